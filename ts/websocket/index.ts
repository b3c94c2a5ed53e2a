export { WebSocket, type WebSocketBehavior, type WebSocketState } from './socket.js';
export { Room, Rooms, type BroadcastOptions, type SlowConsumerPolicy } from './room.js';
export { WebSocketUpgrade } from './upgrade.js';
export { acceptKey } from './handshake.js';
