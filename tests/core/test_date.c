/* IMF-fixdate formatting and the once-a-second cache. */
#include "internal.h"
#include "test.h"

int main(void) {
  char out[32];
  CHECK_INT(catzilla__date_format(784111777, out), 29);
  CHECK_STR(out, "Sun, 06 Nov 1994 08:49:37 GMT");
  catzilla__date_format(0, out);
  CHECK_STR(out, "Thu, 01 Jan 1970 00:00:00 GMT");
  catzilla__date_t date;
  memset(&date, 0, sizeof(date));
  size_t len = 0;
  const char* now = catzilla__date_now(&date, &len);
  CHECK_INT(len, 29);
  CHECK(memcmp(now + 25, " GMT", 4) == 0);
  TEST_END();
}
