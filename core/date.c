/*
 * The Date header (RFC 9110 IMF-fixdate), formatted at most once per second.
 */
#include "internal.h"
#include <time.h>

size_t catzilla__date_format(uint64_t unix_seconds, char out[32]) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)unix_seconds;
  struct tm tm;
  gmtime_r(&t, &tm);
  /* 29 characters: "Sun, 06 Nov 1994 08:49:37 GMT" */
  int n = snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return n > 0 ? (size_t)n : 0;
}

const char* catzilla__date_now(catzilla__date_t* date, size_t* len) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) == 0 && (uint64_t)tv.tv_sec != date->second) {
    date->second = (uint64_t)tv.tv_sec;
    catzilla__date_format(date->second, date->value);
  }
  *len = strlen(date->value);
  return date->value;
}
