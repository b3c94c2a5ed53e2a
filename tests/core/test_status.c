/* Reason phrases and error names. */
#include "internal.h"
#include "test.h"

int main(void) {
  CHECK_STR(catzilla_status_reason(200), "OK");
  CHECK_STR(catzilla_status_reason(201), "Created");
  CHECK_STR(catzilla_status_reason(404), "Not Found");
  CHECK_STR(catzilla_status_reason(413), "Content Too Large");
  CHECK_STR(catzilla_status_reason(431), "Request Header Fields Too Large");
  CHECK_STR(catzilla_status_reason(599), "Unknown");
  CHECK_STR(catzilla_err_name(CATZILLA_ECLOSED), "ECLOSED");
  CHECK_STR(catzilla_err_name(UV_EADDRINUSE), "EADDRINUSE");
  CHECK(strstr(catzilla_strerror(CATZILLA_ECLOSED), "closed") != NULL);
  TEST_END();
}
