// Module init of the catzilla addon: registers the native classes.
#include <llhttp.h>
#include <napi.h>
#include <string>
#include "server_wrap.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  catzilla_bindings::ServerWrap::Init(env, exports);
  // The parser compiled into this addon (hidden symbols: never Node's own llhttp).
  Napi::Object versions = Napi::Object::New(env);
  versions.Set("llhttp", std::to_string(LLHTTP_VERSION_MAJOR) + "." + std::to_string(LLHTTP_VERSION_MINOR) + "." +
                             std::to_string(LLHTTP_VERSION_PATCH));
  exports.Set("versions", versions);
  return exports;
}

NODE_API_MODULE(catzilla, Init)
