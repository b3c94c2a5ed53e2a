/**
 * catzilla: a TypeScript web framework over a native HTTP/1.1 core.
 * This module is the public surface; everything else is internal.
 */
export { App, type AppOptions, type ListenOptions, type CloseOptions } from './app.js';
export type { ClusterOptions } from './workers/options.js';
export type { WorkerInfo } from './workers/primary.js';
export type { Handler, Logger, RouteOptions } from './pipeline.js';
export type { Middleware, Next } from './middleware.js';
export { Request, type RequestHeaders } from './request.js';
export type { Params } from './router.js';
export {
  HttpResponse,
  text,
  json,
  html,
  status,
  redirect,
  type ResponseBody,
  type ResponseLike,
  type HttpResponseInit,
} from './response.js';
export {
  StreamingResponse,
  StreamingWriter,
  StreamBody,
  stream,
  FLOW_DEFAULTS,
  type StreamingOptions,
  type StreamHooks,
  type CloseListener,
  type CloseReason,
  type ChunkMap,
  type BodyTransform,
  type StreamSource,
  type WriterCallback,
  type Chunk,
  type FlowOptions,
} from './streaming/index.js';
export { ResponseHeaders, type HeadersInit, type HeaderValue } from './headers.js';
export { HttpError, CoreError, type HttpErrorOptions } from './errors.js';
export { WebSocket, Room, Rooms, WebSocketUpgrade, acceptKey, type WebSocketBehavior, type WebSocketState, type BroadcastOptions, type BroadcastResult, type RoomsOptions, type RoomOptions, type JoinOptions, type GapNotice, type SlowConsumerPolicy, type PerMessageDeflateOptions } from './websocket/index.js';
export { redisBackplane, RedisBackplane, BackplaneError, type RedisBackplaneOptions, type RedisTlsOptions, type Backplane, type BackplaneStats, type StreamEntry, type StreamListener } from './backplane/index.js';
export { reasonPhrase } from './status.js';
export type { NativeAddress as AddressInfo, NativeServerStats as ServerStats, NativeStreamStats as StreamStats } from './native.js';
export {
  sse,
  lastEventId,
  serializeEvent,
  serializeComment,
  SSEStream,
  Channel,
  SSE_HEADERS,
  type SSEEvent,
  type SSEOptions,
  type SSEHandler,
  type SSESource,
  type ChannelOptions,
  type ChannelStats,
  type OverflowPolicy,
} from './sse/index.js';
export { ndjson, jsonArray, csv, csvField, csvLine, encodeRecords, NDJSON_TYPE, CSV_TYPE, type CsvOptions, type CsvColumn, type CsvRow, type Framing, type Encoder } from './formats/index.js';
export {
  pgQuery,
  pgCopyCsv,
  pgCopyNdjson,
  pgSocket,
  sqliteQuery,
  resumeToken,
  PgRows,
  SqliteRows,
  ResumeTokenError,
  MissingDriverError,
  type PgQueryOptions,
  type PgCopyOptions,
  type PgExportEnd,
  type PgPool,
  type SqliteQueryOptions,
  type SqliteDatabase,
  type ResumeOptions,
} from './db/index.js';
export {
  compress,
  streamCompression,
  compressionStats,
  negotiateEncoding,
  isCompressible,
  ENCODINGS,
  type CompressOptions,
  type CompressMiddleware,
  type CompressionStats,
  type StreamCompressionStats,
  type Encoding,
  type EncoderSettings,
  type ZlibLevels,
  type BrotliLevels,
} from './compression/index.js';
export { PythonBridge, PythonError, type PythonBridgeOptions, type PythonEndpointOptions, type PythonBridgeStats } from './python/index.js';
export { MultipartReader, FilePart, safeFilename, LIMIT_DEFAULTS as UPLOAD_LIMIT_DEFAULTS, type FieldPart, type Part, type Form, type FormOptions, type UploadedFile, type UploadLimits } from './uploads/index.js';
export {
  FileRegion,
  fileRegion,
  isFileRegion,
  sendFile,
  sendRegions,
  serveStatic,
  type FileRegionOptions,
  type SendFileOptions,
  type SendRegionsOptions,
  type FileResponseOptions,
  type StaticOptions,
  type StaticHandler,
  type EtagMode,
  type DotfilesPolicy,
  type SymlinksPolicy,
} from './files/index.js';
export {
  metrics,
  metricsRegistry,
  metricsSnapshot,
  streamsIntrospection,
  liveStreams,
  dashboard,
  type MetricsOptions,
  type MetricsFormat,
  type MetricsSnapshot,
  type IntrospectionOptions,
  type LiveStreamInfo,
  type DashboardOptions,
  type DashboardSample,
  type DashboardHandler,
  type AccessOptions,
  type RouteTotals,
} from './metrics/index.js';
export { MOUNT, type Mountable, type LiveStream } from './app.js';
export type { DispatchObserver } from './transport.js';
