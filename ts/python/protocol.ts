/**
 * The frame protocol spoken with `python -m catzilla_bridge.worker` over its stdin/stdout
 * (mirrors python/catzilla_bridge/protocol.py). Each frame: a 9-byte header
 * `type (u8) | stream id (u32 BE) | payload length (u32 BE)`, then the payload.
 */

export const HEADER_SIZE = 9;
export const MAX_PAYLOAD = 1 << 30;

/** Frame types. Node -> worker: Start, Credit, Cancel. Worker -> Node: the rest. */
export const enum Frame {
  Start = 1,
  Credit = 2,
  Cancel = 3,
  Hello = 20,
  Head = 21,
  Data = 22,
  End = 23,
  Error = 24,
  Closed = 25,
}

/** What a START frame carries besides the body. */
export interface StartSpec {
  target: string;
  method: string;
  path: string;
  /** The raw query string, without '?'. */
  query: string;
  headers: Record<string, string>;
  params: Record<string, string>;
  /** Initial credit in bytes. */
  window: number;
}

export function encodeFrame(type: Frame, id: number, payload?: Uint8Array): Buffer {
  const len = payload === undefined ? 0 : payload.byteLength;
  const out = Buffer.allocUnsafe(HEADER_SIZE + len);
  out.writeUInt8(type, 0);
  out.writeUInt32BE(id, 1);
  out.writeUInt32BE(len, 5);
  if (len > 0) out.set(payload!, HEADER_SIZE);
  return out;
}

export function encodeStart(id: number, spec: StartSpec, body: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(spec), 'utf8');
  const payload = Buffer.allocUnsafe(4 + json.length + body.byteLength);
  payload.writeUInt32BE(json.length, 0);
  json.copy(payload, 4);
  payload.set(body, 4 + json.length);
  return encodeFrame(Frame.Start, id, payload);
}

export function encodeCredit(id: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 4);
  out.writeUInt8(Frame.Credit, 0);
  out.writeUInt32BE(id, 1);
  out.writeUInt32BE(4, 5);
  out.writeUInt32BE(Math.min(bytes, 0xffffffff), HEADER_SIZE);
  return out;
}

export type FrameHandler = (type: number, id: number, payload: Buffer) => void;

/**
 * Incremental parser over the worker's stdout. A payload that lies inside one read
 * is handed over as a view of it (no copy).
 */
export class FrameParser {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let pos = 0;
    const n = buf.length;
    while (n - pos >= HEADER_SIZE) {
      const type = buf.readUInt8(pos);
      const id = buf.readUInt32BE(pos + 1);
      const len = buf.readUInt32BE(pos + 5);
      if (len > MAX_PAYLOAD) throw new Error(`Python worker sent a frame of ${len} bytes`);
      const end = pos + HEADER_SIZE + len;
      if (end > n) break;
      this.onFrame(type, id, buf.subarray(pos + HEADER_SIZE, end));
      pos = end;
    }
    if (pos < n) this.pending = buf.subarray(pos);
  }
}
