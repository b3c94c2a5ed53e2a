/**
 * The frames of a resumable WebSocket room taken apart (ts/websocket/room-log.ts has the format):
 * `<offset> <payload>` a message, `<offset>` the member's own broadcast, `gap <json>` a gap notice.
 */
import { expect } from 'chai';
import type { Frame, WsClient } from './ws-client.js';

/** A frame of a resumable room, taken apart. */
export interface RoomFrame {
  kind: 'message' | 'own' | 'gap';
  offset: string;
  binary: boolean;
  payload: Buffer;
  gap?: { after: string; oldest: string | null; last: string; reason: string };
}

export function roomFrame(f: Frame): RoomFrame {
  expect(f.opcode === 1 || f.opcode === 2, `opcode ${f.opcode}`).to.equal(true);
  const space = f.payload.indexOf(0x20);
  const head = f.payload.subarray(0, space < 0 ? f.payload.length : space).toString('latin1');
  if (head === 'gap') {
    expect(f.opcode).to.equal(1);
    return { kind: 'gap', offset: '', binary: false, payload: Buffer.alloc(0), gap: JSON.parse(f.payload.subarray(space + 1).toString()) };
  }
  expect(head).to.match(/^(0-)?\d+$/);
  if (space < 0) return { kind: 'own', offset: head, binary: false, payload: Buffer.alloc(0) };
  return { kind: 'message', offset: head, binary: f.opcode === 2, payload: f.payload.subarray(space + 1) };
}

/** The next `n` frames of `c`, taken apart. */
export async function roomFrames(c: WsClient, n: number, ms = 5000): Promise<RoomFrame[]> {
  const out: RoomFrame[] = [];
  for (let i = 0; i < n; i++) out.push(roomFrame(await c.next(`room frame ${i + 1} of ${n}`, ms)));
  return out;
}

