export { WebSocket, type WebSocketBehavior, type WebSocketState } from './socket.js';
export { Room, Rooms, type BroadcastOptions, type BroadcastResult, type RoomsOptions, type RoomOptions, type JoinOptions } from './room.js';
export type { GapNotice } from './room-log.js';
export type { SlowConsumerPolicy } from '../slow-consumer.js';
export { WebSocketUpgrade } from './upgrade.js';
export { acceptKey, type PerMessageDeflateOptions } from './handshake.js';
