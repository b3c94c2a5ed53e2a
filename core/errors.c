/*
 * Negative error codes <-> names and messages: the core's own codes, then libuv's.
 */
#include "internal.h"

const char* catzilla_err_name(int err) {
  switch (err) {
#define XX(name, value, msg) case CATZILLA_##name: return #name;
    CATZILLA_ERRNO_MAP(XX)
#undef XX
    default: return uv_err_name(err);
  }
}

const char* catzilla_strerror(int err) {
  switch (err) {
#define XX(name, value, msg) case CATZILLA_##name: return msg;
    CATZILLA_ERRNO_MAP(XX)
#undef XX
    default: return uv_strerror(err);
  }
}
