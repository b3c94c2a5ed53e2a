// Module init of the catzilla addon: registers the native classes.
#include <llhttp.h>
#include <napi.h>
#include <initializer_list>
#include <string>
#include <utility>
#include "server_wrap.h"

// The one contract (catzilla.h's X-macro lists), for ts/native.ts to read instead of restating.
static Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto num = [&](double v) { return Napi::Number::New(env, v); };

  catzilla_server_options_t server_defaults;
  catzilla_server_options_default(&server_defaults);
  Napi::Object server_options = Napi::Object::New(env);
#define XX(type, field, js, dflt, doc) server_options.Set(#js, num((double)server_defaults.field));
  CATZILLA_SERVER_OPTIONS_MAP(XX)
#undef XX
  c.Set("serverOptions", server_options);

  catzilla_stream_options_t stream_defaults;
  catzilla_stream_options_default(&stream_defaults);
  Napi::Object stream_options = Napi::Object::New(env);
  stream_options.Set("highWaterMark", num((double)stream_defaults.high_watermark));
  stream_options.Set("lowWaterMark", num((double)stream_defaults.low_watermark));
  stream_options.Set("stallTimeout", num((double)stream_defaults.stall_timeout_ms));
  c.Set("streamOptions", stream_options);

  // WebSocket limits, liveness and permessage-deflate parameters: names in wsAccept's order, defaults.
  catzilla_ws_options_t ws_defaults;
  catzilla_ws_options_default(&ws_defaults);
  Napi::Object ws_options = Napi::Object::New(env);
#define XX(type, field, js, dflt, doc) ws_options.Set(#js, num((double)ws_defaults.field));
  CATZILLA_WS_OPTIONS_MAP(XX)
#undef XX
  c.Set("wsOptions", ws_options);

  auto names = [&](std::initializer_list<const char*> list) {
    Napi::Array a = Napi::Array::New(env, list.size());
    uint32_t i = 0;
    for (const char* name : list) a.Set(i++, Napi::String::New(env, name));
    return a;
  };
#define XX(field, js) #js,
  c.Set("streamStats", names({CATZILLA_STREAM_STATS_MAP(XX)}));
  c.Set("serverStats", names({CATZILLA_SERVER_STATS_MAP(XX)}));
#undef XX

  auto table = [&](const char* key, std::initializer_list<std::pair<const char*, int>> list) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [name, value] : list) o.Set(name, num(value));
    c.Set(key, o);
  };
#define XX(name, value, js) {#js, value},
  table("streamState", {CATZILLA_STREAM_STATE_MAP(XX)});
  table("streamFlags", {CATZILLA_STREAM_FLAGS_MAP(XX)});
  table("abortReason", {CATZILLA_ABORT_REASON_MAP(XX)});
  table("requestFlags", {CATZILLA_REQUEST_FLAGS_MAP(XX)});
  table("respondFlags", {CATZILLA_RESPONSE_FLAGS_MAP(XX)});
  table("listenFlags", {CATZILLA_LISTEN_FLAGS_MAP(XX)});
#undef XX
#define XX(name, value, msg) {#name, value},
  table("errors", {CATZILLA_ERRNO_MAP(XX)});
#undef XX
  // Request methods by llhttp's number: onRequest hands JavaScript the number (a small integer
  // costs nothing to pass; a string per request or an array read through Node-API does).
  Napi::Array methods = Napi::Array::New(env);
#define XX(num, name, string) methods.Set((uint32_t)(num), Napi::String::New(env, #string));
  HTTP_METHOD_MAP(XX)
#undef XX
  c.Set("methods", methods);
  c.Set("referenceThreshold", num(CATZILLA_REFERENCE_THRESHOLD));
  c.Set("latencyBuckets", num(CATZILLA_LATENCY_BUCKETS));
  c.Freeze();
  return c;
}

// bindSocket(host, port, flags): a bound, not listening socket (catzilla_socket_bind), as
// { fd, address, port, family }; the port reservation of the workers' primary.
static Napi::Value BindSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "bindSocket(host: string, port: number, flags: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  struct sockaddr_storage bound;
  int fd = catzilla_socket_bind(host.c_str(), port, info[2].As<Napi::Number>().Uint32Value(), &bound);
  if (fd < 0) {
    Napi::Error e = catzilla_bindings::ServerWrap::CoreError(env, fd, ("bind " + host + ":" + std::to_string(port)).c_str());
    e.Set("address", Napi::String::New(env, host));
    e.Set("port", Napi::Number::New(env, port));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = catzilla_bindings::ServerWrap::AddressObject(env, bound);
  out.Set("fd", Napi::Number::New(env, fd));
  return out;
}

// closeSocket(fd): closes a descriptor from bindSocket.
static Napi::Value CloseSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "closeSocket(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = catzilla_socket_close(info[0].As<Napi::Number>().Int32Value());
  if (err != 0) catzilla_bindings::ServerWrap::CoreError(env, err, "closeSocket").ThrowAsJavaScriptException();
  return env.Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  catzilla_bindings::ServerWrap::Init(env, exports);
  // The parser compiled into this addon (hidden symbols: never Node's own llhttp).
  Napi::Object versions = Napi::Object::New(env);
  versions.Set("llhttp", std::to_string(LLHTTP_VERSION_MAJOR) + "." + std::to_string(LLHTTP_VERSION_MINOR) + "." +
                             std::to_string(LLHTTP_VERSION_PATCH));
  exports.Set("versions", versions);
  exports.Set("constants", Constants(env));
  exports.Set("bindSocket", Napi::Function::New(env, BindSocket, "bindSocket"));
  exports.Set("closeSocket", Napi::Function::New(env, CloseSocket, "closeSocket"));
  return exports;
}

NODE_API_MODULE(catzilla, Init)
