/** Streaming responses: the public surface of ts/streaming/. */
export { StreamingResponse, stream, type StreamingOptions, type StreamHooks, type CloseListener } from './response.js';
export { StreamingWriter, type WriterCallback } from './writer.js';
export { StreamBody, type ChunkMap, type BodyTransform } from './response-body.js';
export type { CloseReason } from './session.js';
export type { StreamSource } from './source.js';
export type { Chunk } from './chunk.js';
export { FLOW_DEFAULTS, type FlowOptions } from './options.js';
