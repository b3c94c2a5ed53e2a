// The streaming half of the native Server: streamStart / streamWrite / streamWritev /
// streamFlush / streamEnd / streamAbort / streamStats over core/stream.c. A stream that
// has ended or whose client left makes every call throw ECLOSED; nothing crashes.
#include "server_wrap.h"
#include <cstring>
#include <unistd.h>

namespace catzilla_bindings {

catzilla_stream_context_t* ServerWrap::StreamFor(const Napi::CallbackInfo& info) {
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(info.Env())) return nullptr;
  catzilla_stream_context_t* stream = catzilla_stream_of(server_, id);
  if (stream == nullptr) CoreError(info.Env(), CATZILLA_ECLOSED, "stream").ThrowAsJavaScriptException();
  return stream;
}

Napi::Value ServerWrap::StreamStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 8 || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "streamStart(id, status, headerBlock, contentLength, highWaterMark, lowWaterMark, stallTimeout, flags)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  catzilla_stream_options_t o;
  catzilla_stream_options_default(&o);
  o.status = info[1].As<Napi::Number>().Int32Value();
  if (!StringInto(env, info[2], header_scratch_, true)) return env.Undefined();
  o.headers = header_scratch_.data();
  o.headers_len = header_scratch_.size();
  double length = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  o.content_length = length >= 0 ? (int64_t)length : -1;
  double high = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : 0;
  double low = info[5].IsNumber() ? info[5].As<Napi::Number>().DoubleValue() : 0;
  double stall = info[6].IsNumber() ? info[6].As<Napi::Number>().DoubleValue() : -1;
  if (high > 0) o.high_watermark = (size_t)high;
  if (low >= 0 && info[5].IsNumber()) o.low_watermark = (size_t)low;
  if (stall >= 0) o.stall_timeout_ms = (uint64_t)stall;
  o.flags = info[7].IsNumber() ? info[7].As<Napi::Number>().Uint32Value() : 0;
  catzilla_stream_hooks_t hooks = JsHooks();
  int err = catzilla_stream_start(server_, id, &o, &hooks, nullptr);
  if (err) CoreError(env, err, "streamStart").ThrowAsJavaScriptException();
  return env.Undefined();
}

// Returns the core's verdict: 1 writable, 0 backpressured, < 0 an error. `copy`: the bytes are
// lent (the caller reuses the memory once this returns): copied whatever their size.
int ServerWrap::WriteChunk(catzilla_stream_context_t* stream, napi_value chunk, bool copy) {
  napi_env env = Env();
  napi_valuetype type;
  napi_typeof(env, chunk, &type);
  if (type == napi_string) {
    if (!StringInto(env, chunk, body_scratch_, false)) return UV_EINVAL;
    return catzilla_stream_write(stream, body_scratch_.data(), body_scratch_.size(), nullptr, nullptr);
  }
  bool is_typed = false;
  napi_is_typedarray(env, chunk, &is_typed);
  if (!is_typed) return UV_EINVAL;
  napi_typedarray_type ta_type;
  size_t length, offset;
  void* data;
  napi_value arraybuffer;
  napi_get_typedarray_info(env, chunk, &ta_type, &length, &data, &arraybuffer, &offset);
  if (ta_type != napi_uint8_array) return UV_EINVAL;
  if (length >= CATZILLA_REFERENCE_THRESHOLD && !copy) {
    return catzilla_stream_write(stream, static_cast<const char*>(data), length, ReleaseKept, KeepValue(env, chunk));
  }
  return catzilla_stream_write(stream, static_cast<const char*>(data), length, nullptr, nullptr);
}

static Napi::Value WriteResult(Napi::Env env, int r) {
  if (r < 0) {
    if (r == UV_EINVAL)
      Napi::TypeError::New(env, "a stream chunk must be a string or a Uint8Array").ThrowAsJavaScriptException();
    else
      ServerWrap::CoreError(env, r, "streamWrite").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, r == 1);
}

// The optional `copy` argument of streamWrite / streamWritev (true: the chunks are lent).
static bool CopyFlag(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsBoolean() && info[index].As<Napi::Boolean>().Value();
}

Napi::Value ServerWrap::StreamWrite(const Napi::CallbackInfo& info) {
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr) return info.Env().Undefined();
  if (info.Length() < 2) return WriteResult(info.Env(), UV_EINVAL);
  return WriteResult(info.Env(), WriteChunk(stream, info[1], CopyFlag(info, 2)));
}

Napi::Value ServerWrap::StreamWritev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  catzilla_request_id_t id;
  if (!ReadId(info, &id) || !Live(env)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) {
    Napi::TypeError::New(env, "streamWritev(id, chunks: Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  napi_value array = info[1];
  bool copy = CopyFlag(info, 2);
  uint32_t n = 0;
  napi_get_array_length(env, array, &n);
  int r = 1;
  for (uint32_t i = 0; i < n; i++) {
    // looked up again per chunk: a chunk may end the stream (Content-Length over-run)
    catzilla_stream_context_t* stream = catzilla_stream_of(server_, id);
    if (stream == nullptr) {
      r = CATZILLA_ECLOSED;
      break;
    }
    napi_value chunk;
    napi_get_element(env, array, i, &chunk);
    r = WriteChunk(stream, chunk, copy);
    if (r < 0) break;
  }
  if (n == 0 && catzilla_stream_of(server_, id) == nullptr) r = CATZILLA_ECLOSED;
  return WriteResult(env, r);
}

// streamWriteFile(id, fd, offset, length, closeFd): a file region sent by sendfile. With
// closeFd the stream owns the descriptor and closes it on every path (even on a throw).
Napi::Value ServerWrap::StreamWriteFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "streamWriteFile(id, fd, offset, length, closeFd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[1].As<Napi::Number>().Int32Value();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  double length = info[3].As<Napi::Number>().DoubleValue();
  bool close_fd = info[4].ToBoolean().Value();
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr || fd < 0 || !(offset >= 0) || !(length >= 0)) {
    if (close_fd && fd >= 0) close(fd);
    if (stream != nullptr) Napi::RangeError::New(env, "streamWriteFile: invalid fd, offset or length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int r = catzilla_stream_write_file(stream, fd, (uint64_t)offset, (uint64_t)length, close_fd ? CATZILLA_FILE_CLOSE : 0);
  if (r < 0) {
    ServerWrap::CoreError(env, r, "streamWriteFile").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, r == 1);
}

Napi::Value ServerWrap::StreamFlush(const Napi::CallbackInfo& info) {
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr) return info.Env().Undefined();
  int err = catzilla_stream_flush(stream);
  if (err) CoreError(info.Env(), err, "streamFlush").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value ServerWrap::StreamEnd(const Napi::CallbackInfo& info) {
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr) return info.Env().Undefined();
  // The end is reported by onStreamEnd, whether the last byte left now or later. A response whose
  // last byte left at once is told so inside this call (with any other end queued so far), not a
  // loop phase later: its objects then die young, and it costs no second call into the addon.
  int r = catzilla_stream_end(stream);
  if (r < 0) {
    CoreError(info.Env(), r, "streamEnd").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  if (server_ != nullptr && !in_deliver_) {
    in_deliver_ = true;
    catzilla_server_deliver_ends(server_);
    in_deliver_ = false;
  }
  return info.Env().Undefined();
}

// streamAbort(id, state?): the cut is recorded as `state` (Errored by default; Closed, Shed).
Napi::Value ServerWrap::StreamAbort(const Napi::CallbackInfo& info) {
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr) return info.Env().Undefined();
  catzilla_stream_state_t state = CATZILLA_STREAM_ERRORED;
  if (info.Length() > 1 && info[1].IsNumber()) state = (catzilla_stream_state_t)info[1].As<Napi::Number>().Int32Value();
  int err = catzilla_stream_abort_as(stream, state);
  if (err) CoreError(info.Env(), err, "streamAbort").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Object ServerWrap::StreamStatsObject(Napi::Env env, const catzilla_stream_stats_t& st) {
  Napi::Object o = Napi::Object::New(env);
#define XX(field, js) o.Set(#js, Napi::Number::New(env, (double)st.field));
  CATZILLA_STREAM_STATS_MAP(XX)
#undef XX
  return o;
}

// The per-stream counters in CATZILLA_STREAM_STATS_MAP order, in the server's one shared
// Float64Array: no allocation on the per-request path; valid until the next hand-over.
napi_value ServerWrap::StreamStatsArray(napi_env, const catzilla_stream_stats_t& st) {
  double* out = stats_data_;
#define XX(field, js) *out++ = (double)st.field;
  CATZILLA_STREAM_STATS_MAP(XX)
#undef XX
  return stats_array_.Value();
}

Napi::Value ServerWrap::StreamStats(const Napi::CallbackInfo& info) {
  catzilla_stream_context_t* stream = StreamFor(info);
  if (stream == nullptr) return info.Env().Undefined();
  catzilla_stream_stats_t st;
  catzilla_stream_get_stats(stream, &st);
  return Napi::Value(info.Env(), StreamStatsArray(info.Env(), st));
}

}  // namespace catzilla_bindings

namespace catzilla_bindings {

namespace {
struct LiveVisit {
  Napi::Env env;
  Napi::Array list;
  uint32_t n;
};
void VisitStream(catzilla_request_id_t id, const catzilla_stream_stats_t* st, const struct sockaddr_storage* peer,
                 void* arg) {
  LiveVisit* v = static_cast<LiveVisit*>(arg);
  Napi::Object o = ServerWrap::StreamStatsObjectFor(v->env, *st);
  o.Set("id", Napi::Number::New(v->env, (double)id));
  o.Set("remote", ServerWrap::AddressObject(v->env, *peer));
  v->list.Set(v->n++, o);
}
}  // namespace

// liveStreams(): every live stream with its counters and peer address (for introspection).
Napi::Value ServerWrap::LiveStreams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LiveVisit visit{env, Napi::Array::New(env), 0};
  if (server_ != nullptr) catzilla_server_each_stream(server_, VisitStream, &visit);
  return visit.list;
}

}  // namespace catzilla_bindings
