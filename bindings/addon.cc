// Module init of the catzilla addon: registers the native classes.
#include <napi.h>
#include "server_wrap.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  catzilla_bindings::ServerWrap::Init(env, exports);
  return exports;
}

NODE_API_MODULE(catzilla, Init)
