// The WebSocket half of the native Server over core/ws_conn.c: wsAccept / wsSend / wsClose,
// and the core's onWsMessage / onWsClose calls into JavaScript. A connection that has gone
// makes every call throw ECLOSED; nothing crashes.
#include "server_wrap.h"

namespace catzilla_bindings {

// wsAccept(id, headerBlock, maxMessage, highWaterMark, lowWaterMark, stallTimeout[, wsOptions]):
// wsOptions is a Float64Array in CATZILLA_WS_OPTIONS_MAP's order (constants.wsOptions names it);
// without it, the core's defaults.
Napi::Value ServerWrap::WsAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 6 || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsNumber() || !info[5].IsNumber()) {
    Napi::TypeError::New(env, "wsAccept(id, headerBlock, maxMessage, highWaterMark, lowWaterMark, stallTimeout[, wsOptions])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!StringInto(env, info[1], header_scratch_, true)) return env.Undefined();
  catzilla_ws_options_t o;
  catzilla_ws_options_default(&o);
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    constexpr size_t count = 0
#define XX(type, field, js, dflt, doc) +1
        CATZILLA_WS_OPTIONS_MAP(XX)
#undef XX
        ;
    if (!info[6].IsTypedArray() || info[6].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[6].As<Napi::Float64Array>().ElementLength() != count) {
      Napi::TypeError::New(env, "wsAccept: wsOptions must be a Float64Array in constants.wsOptions order")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Float64Array values = info[6].As<Napi::Float64Array>();
    size_t i = 0;
    bool ok = true;
#define XX(type, field, js, dflt, doc)                   \
  {                                                       \
    double v = values[i++];                               \
    if (!(v >= -1 && v <= 9007199254740991.0)) ok = false; \
    else o.field = (type)v;                               \
  }
    CATZILLA_WS_OPTIONS_MAP(XX)
#undef XX
    if (!ok) {
      Napi::RangeError::New(env, "wsAccept: wsOptions values must be integers >= 0").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  o.headers = header_scratch_.data();
  o.headers_len = header_scratch_.size();
  double max = info[2].As<Napi::Number>().DoubleValue();
  double high = info[3].As<Napi::Number>().DoubleValue();
  double low = info[4].As<Napi::Number>().DoubleValue();
  double stall = info[5].As<Napi::Number>().DoubleValue();
  if (!(max >= 1) || !(high >= 1) || !(low >= 0) || !(stall >= 0)) {
    Napi::RangeError::New(env, "wsAccept: limits must be positive numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  o.max_message = (uint64_t)max;
  o.high_watermark = (size_t)high;
  o.low_watermark = (size_t)low;
  o.stall_timeout_ms = (uint64_t)stall;
  o.hooks = JsHooks();
  int err = catzilla_ws_accept(server_, id, &o);
  if (err) CoreError(env, err, "wsAccept").ThrowAsJavaScriptException();
  return env.Undefined();
}

// wsSend(id, binary, data): true while under the high watermark, false when backpressured.
Napi::Value ServerWrap::WsSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 3) {
    Napi::TypeError::New(env, "wsSend(id, binary, data)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int opcode = info[1].ToBoolean().Value() ? CATZILLA_WS_BINARY : CATZILLA_WS_TEXT;
  int r;
  if (info[2].IsString()) {
    if (!StringInto(env, info[2], body_scratch_, false)) return env.Undefined();
    r = catzilla_ws_send(server_, id, opcode, body_scratch_.data(), body_scratch_.size(), nullptr, nullptr);
  } else if (info[2].IsTypedArray() && info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
    const char* data = reinterpret_cast<const char*>(bytes.Data());
    size_t len = bytes.ByteLength();
    if (len >= CATZILLA_REFERENCE_THRESHOLD) {
      r = catzilla_ws_send(server_, id, opcode, data, len, ReleaseKept, KeepValue(env, info[2]));
    } else {
      r = catzilla_ws_send(server_, id, opcode, data, len, nullptr, nullptr);
    }
  } else {
    Napi::TypeError::New(env, "a WebSocket message must be a string or a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (r < 0) {
    CoreError(env, r, "wsSend").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, r == 1);
}

// wsClose(id, code, reason): code 0 sends a close frame without a code.
Napi::Value ServerWrap::WsClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "wsClose(id, code, reason)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!StringInto(env, info[2], body_scratch_, false)) return env.Undefined();
  int err = catzilla_ws_close(server_, id, info[1].As<Napi::Number>().Int32Value(), body_scratch_.data(),
                              body_scratch_.size());
  if (err) CoreError(env, err, "wsClose").ThrowAsJavaScriptException();
  return env.Undefined();
}

void ServerWrap::OnWsMessage(catzilla_server_t* s, catzilla_request_id_t id, int opcode, const char* data,
                             size_t len) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr || w->on_ws_message_.IsEmpty()) return;
  napi_env env = w->Env();
  Napi::HandleScope scope(w->Env());
  napi_value argv[3];
  napi_create_double(env, (double)id, &argv[0]);
  bool binary = opcode == CATZILLA_WS_BINARY;
  napi_get_boolean(env, binary, &argv[1]);
  static const char empty[1] = {0};
  if (binary) {
    void* copy;
    napi_create_buffer_copy(env, len, data ? data : empty, &copy, &argv[2]);
  } else {
    napi_create_string_utf8(env, data ? data : empty, len, &argv[2]);  // validated UTF-8 by the core
  }
  w->Call(w->on_ws_message_, 3, argv);
}

void ServerWrap::OnWsClose(catzilla_server_t* s, catzilla_request_id_t id, int code, const char* reason,
                           size_t len) {
  ServerWrap* w = static_cast<ServerWrap*>(catzilla_server_data(s));
  if (w == nullptr || w->on_ws_close_.IsEmpty()) return;
  napi_env env = w->Env();
  Napi::HandleScope scope(w->Env());
  napi_value argv[3];
  napi_create_double(env, (double)id, &argv[0]);
  napi_create_int32(env, code, &argv[1]);
  napi_create_string_utf8(env, reason, len, &argv[2]);
  w->Call(w->on_ws_close_, 3, argv);
}

}  // namespace catzilla_bindings
