// The native Server: listen, respond, body flow control, close, stats; and the calls
// from the core into JavaScript (onRequest, onBody, onBodyEnd, onAbort).
//
// A request id that is no longer valid (response ended, connection closed) makes every
// method throw an Error with code ECLOSED: misuse from JavaScript never crashes.
#include "server_wrap.h"
#include <cstdio>
#include <cstring>
#include <set>

namespace catzilla_bindings {

// Servers still open: reachable from a global so that LeakSanitizer does not mistake a
// server torn down with the process for a leak.
static std::set<catzilla_server_t*> g_open_servers;

Napi::Error ServerWrap::CoreError(Napi::Env env, int err, const char* what) {
  std::string message = std::string(what) + ": " + catzilla_strerror(err);
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, catzilla_err_name(err)));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

bool ServerWrap::ReadId(const Napi::CallbackInfo& info, catzilla_request_id_t* id) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "request id must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d < 9007199254740992.0)) {
    CoreError(info.Env(), CATZILLA_EBADID, "invalid request id").ThrowAsJavaScriptException();
    return false;
  }
  *id = (catzilla_request_id_t)d;
  return true;
}

static uint64_t OptionU64(const Napi::Object& o, const char* name, uint64_t fallback) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) return fallback;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0)) return fallback;
  return d > 9007199254740991.0 ? UINT64_C(9007199254740991) : (uint64_t)d;
}

void ServerWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Server",
                                    {
                                        InstanceMethod<&ServerWrap::Listen>("listen"),
                                        InstanceMethod<&ServerWrap::Respond>("respond"),
                                        InstanceMethod<&ServerWrap::PauseBody>("pauseBody"),
                                        InstanceMethod<&ServerWrap::ResumeBody>("resumeBody"),
                                        InstanceMethod<&ServerWrap::RemoteAddress>("remoteAddress"),
                                        InstanceMethod<&ServerWrap::Close>("close"),
                                        InstanceMethod<&ServerWrap::Stats>("stats"),
                                        InstanceMethod<&ServerWrap::StreamStart>("streamStart"),
                                        InstanceMethod<&ServerWrap::StreamWrite>("streamWrite"),
                                        InstanceMethod<&ServerWrap::StreamWritev>("streamWritev"),
                                        InstanceMethod<&ServerWrap::StreamFlush>("streamFlush"),
                                        InstanceMethod<&ServerWrap::StreamWriteFile>("streamWriteFile"),
                                        InstanceMethod<&ServerWrap::StreamEnd>("streamEnd"),
                                        InstanceMethod<&ServerWrap::StreamAbort>("streamAbort"),
                                        InstanceMethod<&ServerWrap::StreamStats>("streamStats"),
                                        InstanceMethod<&ServerWrap::LiveStreams>("liveStreams"),
                                        InstanceMethod<&ServerWrap::WsAccept>("wsAccept"),
                                        InstanceMethod<&ServerWrap::WsSend>("wsSend"),
                                        InstanceMethod<&ServerWrap::WsClose>("wsClose"),
                                    });
  exports.Set("Server", ctor);
}

ServerWrap::ServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) {
    Napi::TypeError::New(env, "Server(options, callbacks): both must be objects").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  catzilla_server_options_default(&options_);
#define XX(type, field, js, dflt, doc) options_.field = (type)OptionU64(o, #js, options_.field);
  CATZILLA_SERVER_OPTIONS_MAP(XX)
#undef XX

  Napi::Object cb = info[1].As<Napi::Object>();
  const char* names[] = {"onRequest", "onBody", "onBodyEnd", "onAbort"};
  Napi::FunctionReference* refs[] = {&on_request_, &on_body_, &on_body_end_, &on_abort_};
  for (int i = 0; i < 4; i++) {
    Napi::Value fn = cb.Get(names[i]);
    if (!fn.IsFunction()) {
      Napi::TypeError::New(env, std::string("callbacks.") + names[i] + " must be a function")
          .ThrowAsJavaScriptException();
      return;
    }
    *refs[i] = Napi::Persistent(fn.As<Napi::Function>());
  }
  // optional: only streaming responses need them
  Napi::Value drain = cb.Get("onDrain"), end = cb.Get("onStreamEnd");
  if (drain.IsFunction()) on_drain_ = Napi::Persistent(drain.As<Napi::Function>());
  if (end.IsFunction()) on_stream_end_ = Napi::Persistent(end.As<Napi::Function>());
  // optional: only WebSocket routes need them
  Napi::Value ws_message = cb.Get("onWsMessage"), ws_close = cb.Get("onWsClose");
  if (ws_message.IsFunction()) on_ws_message_ = Napi::Persistent(ws_message.As<Napi::Function>());
  if (ws_close.IsFunction()) on_ws_close_ = Napi::Persistent(ws_close.As<Napi::Function>());
  callbacks_ = Napi::Persistent(cb);
  napi_async_init(env, nullptr, Napi::String::New(env, "catzilla.Server"), &async_context_);
  Napi::Float64Array stats = Napi::Float64Array::New(env, kStreamStatsFields);
  stats_data_ = stats.Data();
  stats_array_ = Napi::Persistent(stats);
}

ServerWrap::~ServerWrap() {
  if (server_ != nullptr) {
    // Only reachable when the object was collected without close(): close without JS.
    catzilla_server_t* s = server_;
    server_ = nullptr;
    catzilla_server_set_data(s, nullptr);  // no more calls into this object
    if (catzilla_server_close(s, 0, FreeWhenClosed, nullptr) != 0) {
      // already closing: the pending close callback belongs to a dead object now
    }
  }
  if (async_context_ != nullptr) napi_async_destroy(Env(), async_context_);
}

void ServerWrap::FreeWhenClosed(catzilla_server_t* s, void*) {
  g_open_servers.erase(s);
  catzilla_server_free(s);
}

bool ServerWrap::Live(const Napi::Env& env) {
  if (server_ != nullptr) return true;
  CoreError(env, CATZILLA_ESERVERCLOSED, "server").ThrowAsJavaScriptException();
  return false;
}

// ---- JS -> core ----

Napi::Value ServerWrap::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "listen(host: string, port: number, backlog?: number, flags?: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (server_ != nullptr || closing_) {
    CoreError(env, UV_EALREADY, "listen").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 511;
  unsigned flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  catzilla_server_callbacks_t callbacks = {OnRequest, OnBody, OnBodyEnd, OnAbort, OnWsMessage, OnWsClose, OnEndsDelivered};
  catzilla_server_t* s = nullptr;
  int err = catzilla_server_new(loop, &options_, &callbacks, this, &s);
  if (err) {
    CoreError(env, err, "listen").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g_open_servers.insert(s);
  struct sockaddr_storage bound;
  err = catzilla_server_listen(s, host.c_str(), port, backlog, flags, &bound);
  if (err) {
    catzilla_server_close(s, 0, FreeWhenClosed, nullptr);
    Napi::Error e = CoreError(env, err, ("listen " + host + ":" + std::to_string(port)).c_str());
    e.Set("address", Napi::String::New(env, host));
    e.Set("port", Napi::Number::New(env, port));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  server_ = s;
  Ref();  // keep this object alive while the server is open
  return AddressObject(env, bound);
}

Napi::Object ServerWrap::AddressObject(Napi::Env env, const struct sockaddr_storage& addr) {
  char ip[64] = {0};
  Napi::Object out = Napi::Object::New(env);
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const struct sockaddr_in6*>(&addr);
    uv_ip6_name(a, ip, sizeof(ip));
    out.Set("port", Napi::Number::New(env, ntohs(a->sin6_port)));
    out.Set("family", Napi::String::New(env, "IPv6"));
  } else {
    const auto* a = reinterpret_cast<const struct sockaddr_in*>(&addr);
    if (addr.ss_family == AF_INET) uv_ip4_name(a, ip, sizeof(ip));
    out.Set("port", Napi::Number::New(env, addr.ss_family == AF_INET ? ntohs(a->sin_port) : 0));
    out.Set("family", Napi::String::New(env, "IPv4"));
  }
  out.Set("address", Napi::String::New(env, ip));
  return out;
}


bool ServerWrap::StringInto(napi_env env, napi_value v, std::string& out, bool latin1) {
  size_t len = 0;
  napi_status st = latin1 ? napi_get_value_string_latin1(env, v, nullptr, 0, &len)
                          : napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  if (st != napi_ok) return false;
  out.resize(len + 1);
  st = latin1 ? napi_get_value_string_latin1(env, v, &out[0], len + 1, &len)
              : napi_get_value_string_utf8(env, v, &out[0], len + 1, &len);
  out.resize(len);
  return st == napi_ok;
}

Napi::Value ServerWrap::Respond(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "respond(id, status, headerBlock, body, flags)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  catzilla_response_t r;
  std::memset(&r, 0, sizeof(r));
  r.status = info[1].As<Napi::Number>().Int32Value();
  if (!StringInto(env, info[2], header_scratch_, true)) return env.Undefined();
  r.headers = header_scratch_.data();
  r.headers_len = header_scratch_.size();
  r.flags = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Uint32Value() : 0;
  napi_value body = info[3];
  if (info[3].IsString()) {
    if (!StringInto(env, body, body_scratch_, false)) return env.Undefined();
    r.body = body_scratch_.data();
    r.body_len = body_scratch_.size();
  } else if (info[3].IsTypedArray()) {
    Napi::TypedArray ta = info[3].As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    r.body = static_cast<const char*>(ab.Data()) + ta.ByteOffset();
    r.body_len = ta.ByteLength();
    if (r.body_len > 16 * 1024) {
      r.release = ReleaseKept;
      r.release_arg = KeepValue(env, body);
    }
  } else if (!info[3].IsNull() && !info[3].IsUndefined()) {
    Napi::TypeError::New(env, "response body must be a string, a Uint8Array or null").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = catzilla_respond(server_, id, &r);
  if (err) CoreError(env, err, "respond").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ServerWrap::PauseBody(const Napi::CallbackInfo& info) {
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(info.Env())) return info.Env().Undefined();
  int err = catzilla_body_pause(server_, id);
  if (err) CoreError(info.Env(), err, "pauseBody").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value ServerWrap::ResumeBody(const Napi::CallbackInfo& info) {
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(info.Env())) return info.Env().Undefined();
  int err = catzilla_body_resume(server_, id);
  if (err) CoreError(info.Env(), err, "resumeBody").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value ServerWrap::RemoteAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  struct sockaddr_storage addr;
  int err = catzilla_remote_address(server_, id, &addr);
  if (err) {
    CoreError(env, err, "remoteAddress").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return AddressObject(env, addr);
}

Napi::Value ServerWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "close(graceMs: number, done: () => void)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (server_ == nullptr || closing_) {
    CoreError(env, CATZILLA_ESERVERCLOSED, "close").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  closing_ = true;
  on_closed_ = Napi::Persistent(info[1].As<Napi::Function>());
  double grace = info[0].As<Napi::Number>().DoubleValue();
  catzilla_server_close(server_, grace > 0 ? (uint64_t)grace : 0, OnClosed, this);
  return env.Undefined();
}

Napi::Value ServerWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_server_stats_t st;
  std::memset(&st, 0, sizeof(st));
  if (server_ != nullptr) catzilla_server_stats(server_, &st);
  Napi::Object o = Napi::Object::New(env);
#define XX(field, js) o.Set(#js, Napi::Number::New(env, (double)st.field));
  CATZILLA_SERVER_STATS_MAP(XX)
#undef XX
  for (int c = 1; c <= 5; c++) o.Set("responses" + std::to_string(c) + "xx", Napi::Number::New(env, (double)st.responses[c]));
  Napi::Array buckets = Napi::Array::New(env, CATZILLA_LATENCY_BUCKETS);
  for (uint32_t i = 0; i < CATZILLA_LATENCY_BUCKETS; i++)
    buckets.Set(i, Napi::Number::New(env, (double)st.write_latency_buckets[i]));
  o.Set("writeLatencyBuckets", buckets);
  return o;
}

// ---- core -> JS ----

void ServerWrap::Call(Napi::FunctionReference& fn, size_t argc, const napi_value* argv) {
  napi_env env = Env();
  napi_value recv = callbacks_.Value();
  napi_value result;
  call_depth_++;
  napi_status st = napi_make_callback(env, async_context_, recv, fn.Value(), argc, argv, &result);
  call_depth_--;
  if (st == napi_pending_exception) {
    // The TypeScript layer catches handler errors itself; anything arriving here is a
    // catzilla bug. Report it as an uncaught exception rather than losing it.
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  // Streams that JavaScript ended during the call (its microtasks included) are told now, back
  // in the loop phase with no JavaScript on the stack, so their objects die young.
  if (call_depth_ == 0 && server_ != nullptr) catzilla_server_deliver_ends(server_);
}

void ServerWrap::OnRequest(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr) return;
  napi_env env = w->Env();
  Napi::HandleScope scope(w->Env());
  napi_value argv[5];
  napi_create_double(env, (double)id, &argv[0]);
  napi_create_uint32(env, (uint32_t)info->method, &argv[1]);
  napi_create_string_latin1(env, info->url, info->url_len, &argv[2]);
  napi_create_string_latin1(env, info->headers, info->headers_len, &argv[3]);
  napi_create_uint32(env, info->flags, &argv[4]);
  w->Call(w->on_request_, 5, argv);
}

void ServerWrap::OnBody(catzilla_server_t* s, catzilla_request_id_t id, const char* data, size_t len) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr) return;
  napi_env env = w->Env();
  Napi::HandleScope scope(w->Env());
  napi_value argv[2];
  napi_create_double(env, (double)id, &argv[0]);
  void* copy;
  napi_create_buffer_copy(env, len, data, &copy, &argv[1]);
  w->Call(w->on_body_, 2, argv);
}

void ServerWrap::OnBodyEnd(catzilla_server_t* s, catzilla_request_id_t id) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr) return;
  Napi::HandleScope scope(w->Env());
  napi_value argv[1];
  napi_create_double(w->Env(), (double)id, &argv[0]);
  w->Call(w->on_body_end_, 1, argv);
}

void ServerWrap::OnAbort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t reason) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr) return;
  Napi::HandleScope scope(w->Env());
  napi_value argv[2];
  napi_create_double(w->Env(), (double)id, &argv[0]);
  napi_create_uint32(w->Env(), (uint32_t)reason, &argv[1]);
  w->Call(w->on_abort_, 2, argv);
}

// The hooks of every stream JavaScript produces (streamStart, wsAccept): drain and end.
// Their argument is the core's server, not this object: a ServerWrap collected without close()
// has cleared the server's data, so a late notice finds nothing to call.
catzilla_stream_hooks_t ServerWrap::JsHooks() { return catzilla_stream_hooks_t{OnWritable, OnStreamEnd, server_}; }

void ServerWrap::OnWritable(void* arg, catzilla_request_id_t id) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(static_cast<catzilla_server_t*>(arg)));
  if (w == nullptr || w->on_drain_.IsEmpty()) return;
  Napi::HandleScope scope(w->Env());
  napi_value argv[1];
  napi_create_double(w->Env(), (double)id, &argv[0]);
  w->Call(w->on_drain_, 1, argv);
}

// Stream ends are collected while the core delivers a batch of them, then handed to JavaScript
// in one callback scope (OnEndsDelivered): one microtask checkpoint for the batch. Each still
// arrives as onStreamEnd(id, state, stats).
void ServerWrap::OnStreamEnd(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* stats) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(static_cast<catzilla_server_t*>(arg)));
  if (w == nullptr || w->on_stream_end_.IsEmpty()) return;
  w->pending_ends_.push_back(PendingEnd{id, *stats});
}

void ServerWrap::OnEndsDelivered(catzilla_server_t* s) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr || w->pending_ends_.empty()) return;
  // The batch is taken out (a callback may end more streams: they join the next batch); the two
  // vectors trade places so neither allocates once both have grown.
  std::vector<PendingEnd> ends = std::move(w->spare_ends_);
  ends.clear();
  ends.swap(w->pending_ends_);
  napi_env env = w->Env();
  Napi::HandleScope scope(w->Env());
  napi_value recv = w->callbacks_.Value();
  napi_value fn = w->on_stream_end_.Value();
  // From a loop phase the batch gets a callback scope of its own; asked for by JavaScript
  // (inside streamEnd) it runs inside the caller's.
  bool own_scope = !w->in_deliver_;
  napi_callback_scope cb_scope;
  w->call_depth_++;
  if (own_scope) napi_open_callback_scope(env, recv, w->async_context_, &cb_scope);
  for (const PendingEnd& e : ends) {
    Napi::HandleScope each(w->Env());
    napi_value argv[3];
    napi_create_double(env, (double)e.id, &argv[0]);
    napi_create_uint32(env, (uint32_t)e.stats.state, &argv[1]);
    argv[2] = w->StreamStatsArray(env, e.stats);
    napi_value result;
    if (napi_call_function(env, recv, fn, 3, argv, &result) == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  if (own_scope) napi_close_callback_scope(env, cb_scope); // microtasks and ticks run once, here
  w->call_depth_--;
  if (ends.capacity() > w->spare_ends_.capacity()) w->spare_ends_ = std::move(ends);
}

void ServerWrap::OnClosed(catzilla_server_t* s, void* arg) {
  ServerWrap* w = static_cast<ServerWrap*>(arg);
  g_open_servers.erase(s);
  catzilla_server_free(s);
  w->server_ = nullptr;
  Napi::HandleScope scope(w->Env());
  Napi::FunctionReference done = std::move(w->on_closed_);
  w->Unref();  // the object may be collected from now on
  if (!done.IsEmpty()) w->Call(done, 0, nullptr);
}

}  // namespace catzilla_bindings
