/** Server-Sent Events: the public surface of ts/sse/. */
export { serializeEvent, serializeComment, type SSEEvent } from './event.js';
export { SSEStream } from './stream.js';
export { sse, lastEventId, SSE_HEADERS, type SSEOptions, type SSEHandler, type SSESource } from './response.js';
export { Channel, type ChannelOptions, type ChannelStats } from './channel.js';
export type { OverflowPolicy } from '../slow-consumer.js';
