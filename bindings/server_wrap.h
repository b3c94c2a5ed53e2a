// The native Server object over core/server.c (see ts/native.ts for its JS contract).
#ifndef CATZILLA_SERVER_WRAP_H
#define CATZILLA_SERVER_WRAP_H

#include <napi.h>
#include <string>
#include <vector>
extern "C" {
#include "catzilla.h"
}

namespace catzilla_bindings {

// The number of counters in a stream's stats (CATZILLA_STREAM_STATS_MAP).
constexpr size_t kStreamStatsFields = CATZILLA_STREAM_STATS_COUNT;

// A JS value (a Buffer the core sends without copying) kept alive until the core releases it:
// `KeepValue` makes the holder, `ReleaseKept` (a catzilla_release_cb) drops it.
struct KeptValue {
  napi_env env;
  napi_ref ref;
};
inline KeptValue* KeepValue(napi_env env, napi_value value) {
  KeptValue* kept = new KeptValue{env, nullptr};
  napi_create_reference(env, value, 1, &kept->ref);
  return kept;
}
inline void ReleaseKept(void* arg) {
  KeptValue* kept = static_cast<KeptValue*>(arg);
  napi_delete_reference(kept->env, kept->ref);
  delete kept;
}

class ServerWrap : public Napi::ObjectWrap<ServerWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit ServerWrap(const Napi::CallbackInfo& info);
  ~ServerWrap() override;

 private:
  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value Respond(const Napi::CallbackInfo& info);
  Napi::Value PauseBody(const Napi::CallbackInfo& info);
  Napi::Value ResumeBody(const Napi::CallbackInfo& info);
  Napi::Value RemoteAddress(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  // streaming responses (server_wrap_streams.cc)
  Napi::Value StreamStart(const Napi::CallbackInfo& info);
  Napi::Value StreamWrite(const Napi::CallbackInfo& info);
  Napi::Value StreamWritev(const Napi::CallbackInfo& info);
  Napi::Value StreamFlush(const Napi::CallbackInfo& info);
  Napi::Value StreamWriteFile(const Napi::CallbackInfo& info);
  Napi::Value StreamEnd(const Napi::CallbackInfo& info);
  Napi::Value StreamAbort(const Napi::CallbackInfo& info);
  Napi::Value StreamStats(const Napi::CallbackInfo& info);
  Napi::Value LiveStreams(const Napi::CallbackInfo& info);
  // WebSocket connections (server_wrap_websocket.cc)
  Napi::Value WsAccept(const Napi::CallbackInfo& info);
  Napi::Value WsSend(const Napi::CallbackInfo& info);
  Napi::Value WsClose(const Napi::CallbackInfo& info);
  catzilla_stream_context_t* StreamFor(const Napi::CallbackInfo& info);
  int WriteChunk(catzilla_stream_context_t* stream, napi_value chunk, bool copy);
  static Napi::Object StreamStatsObject(Napi::Env env, const catzilla_stream_stats_t& st);
  // Fills the server's shared stats array (STREAM_STATS_FIELDS order) and returns it.
  napi_value StreamStatsArray(napi_env env, const catzilla_stream_stats_t& st);

  // core callbacks
  static void OnRequest(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info);
  static void OnBody(catzilla_server_t* s, catzilla_request_id_t id, const char* data, size_t len);
  static void OnBodyEnd(catzilla_server_t* s, catzilla_request_id_t id);
  static void OnAbort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t reason);
  catzilla_stream_hooks_t JsHooks();
  static void OnWritable(void* arg, catzilla_request_id_t id);
  static void OnStreamEnd(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* stats);
  static void OnEndsDelivered(catzilla_server_t* s);
  static void OnWsMessage(catzilla_server_t* s, catzilla_request_id_t id, int opcode, const char* data, size_t len);
  static void OnWsClose(catzilla_server_t* s, catzilla_request_id_t id, int code, const char* reason, size_t len);
  static void OnClosed(catzilla_server_t* s, void* arg);
  static void FreeWhenClosed(catzilla_server_t* s, void* arg);

  void Call(Napi::FunctionReference& fn, size_t argc, const napi_value* argv);
  bool Live(const Napi::Env& env);

  catzilla_server_t* server_ = nullptr;
  catzilla_server_options_t options_;
  Napi::FunctionReference on_request_, on_body_, on_body_end_, on_abort_, on_drain_, on_stream_end_, on_closed_;
  Napi::FunctionReference on_ws_message_, on_ws_close_;
  Napi::ObjectReference callbacks_;
  napi_async_context async_context_ = nullptr;
  std::string header_scratch_, body_scratch_;
  // The per-stream counters handed to JS (onStreamEnd, streamEnd, streamStats): one
  // Float64Array per server, refilled each time (JS copies what it keeps during the call),
  // so the per-request path allocates no ArrayBuffer.
  Napi::Reference<Napi::Float64Array> stats_array_;
  double* stats_data_ = nullptr;
  // Stream ends of one delivery, handed to JS together (OnEndsDelivered).
  struct PendingEnd {
    catzilla_request_id_t id;
    catzilla_stream_stats_t stats;
  };
  std::vector<PendingEnd> pending_ends_, spare_ends_;
  int call_depth_ = 0;  // callbacks into JS on the stack
  bool in_deliver_ = false;  // delivering ends inside streamEnd() (JS on the stack)
 public:
  // shared with server_wrap_streams.cc
  static bool ReadId(const Napi::CallbackInfo& info, catzilla_request_id_t* id);
  static Napi::Error CoreError(Napi::Env env, int err, const char* what);
  static bool StringInto(napi_env env, napi_value v, std::string& out, bool latin1);
  static Napi::Object AddressObject(Napi::Env env, const struct sockaddr_storage& addr);
  static Napi::Object StreamStatsObjectFor(Napi::Env env, const catzilla_stream_stats_t& st) { return StreamStatsObject(env, st); }
 private:
  bool closing_ = false;
};

}  // namespace catzilla_bindings

#endif
