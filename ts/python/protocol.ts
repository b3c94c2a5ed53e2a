/**
 * The frame protocol spoken with `python -m catzilla_bridge.worker` over its stdin/stdout
 * (mirrors python/catzilla_bridge/protocol.py). Each frame: a 9-byte header
 * `type (u8) | stream id (u32 BE) | payload length (u32 BE)`, then the payload.
 */
import { CoreError } from '../errors.js';

export const HEADER_SIZE = 9;
export const MAX_PAYLOAD = 1 << 30;
/** The largest DATA payload a worker sends (protocol.py MAX_DATA): bigger items come in slices. */
export const MAX_DATA = 64 * 1024;

/** Frame types. Node -> worker: Start, Credit, Cancel, Ping, Body, Part, BodyEnd. Worker -> Node: the rest. */
export const enum Frame {
  Start = 1,
  Credit = 2,
  Cancel = 3,
  Ping = 4,
  /** Request body bytes (a raw body, or the current file part's), at most MAX_DATA, within the body credit. */
  Body = 5,
  /** JSON {kind, name, filename?, mimeType, value?}: the next part of a multipart body. */
  Part = 6,
  /** The request body is over: no payload, or JSON {error: {status, message}} when it failed. */
  BodyEnd = 7,
  Hello = 20,
  Head = 21,
  Data = 22,
  End = 23,
  Error = 24,
  Closed = 25,
  Pong = 26,
  /** u32: request body bytes the endpoint consumed; Node may send that many more. */
  BodyCredit = 27,
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
  /** How the endpoint gets the request body: in START (default), as a stream of Body frames, or as parts. */
  body?: 'buffer' | 'stream' | 'parts';
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

/**
 * Receives each frame. `payload` is one Buffer, except for the frame types the parser was
 * told may come in parts (DATA): a payload of theirs that spans pipe reads comes as the
 * list of its pieces, views of those reads, so its bytes are never copied.
 */
export type FrameHandler = (type: number, id: number, payload: Buffer | Buffer[]) => void;

/**
 * Incremental parser over the worker's stdout, linear in the bytes it is fed: a payload
 * that lies inside one read is handed over as a view of it; one that spans reads is
 * collected as views of each read (never re-copying what is pending) and either handed
 * over as those pieces (types in `inParts`) or copied once into a buffer of its size.
 * `copied` counts the bytes copied.
 */
export class FrameParser {
  /** Bytes of a header split across reads. */
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  /** The frame being collected across reads: its type, id, length, and the pieces so far. */
  private partial: { type: number; id: number; len: number; parts: Buffer[]; fill: number } | null = null;
  /** Bytes copied so far (split headers, and payloads of other types assembled from pieces). */
  copied = 0;

  constructor(private readonly onFrame: FrameHandler, private readonly inParts: ReadonlySet<number> = new Set()) {}

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      const partial = this.partial;
      if (partial !== null) {
        const take = Math.min(partial.len - partial.fill, n - pos);
        partial.parts.push(chunk.subarray(pos, pos + take));
        partial.fill += take;
        pos += take;
        if (partial.fill < partial.len) return;
        this.partial = null;
        if (this.inParts.has(partial.type)) {
          this.onFrame(partial.type, partial.id, partial.parts);
        } else {
          this.copied += partial.len;
          this.onFrame(partial.type, partial.id, Buffer.concat(partial.parts, partial.len));
        }
        continue;
      }
      let head = chunk;
      let at = pos;
      if (this.headerFill > 0 || n - pos < HEADER_SIZE) {
        const take = Math.min(HEADER_SIZE - this.headerFill, n - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + take);
        this.copied += take;
        this.headerFill += take;
        pos += take;
        if (this.headerFill < HEADER_SIZE) return;
        this.headerFill = 0;
        head = this.header;
        at = 0;
      } else {
        pos += HEADER_SIZE;
      }
      const type = head.readUInt8(at);
      const id = head.readUInt32BE(at + 1);
      const len = head.readUInt32BE(at + 5);
      if (len > MAX_PAYLOAD) throw new CoreError('EPYTHONPROTO', `Python worker sent a frame of ${len} bytes`);
      if (n - pos >= len) {
        const payload = chunk.subarray(pos, pos + len);
        pos += len;
        this.onFrame(type, id, payload);
      } else {
        this.partial = { type, id, len, parts: [], fill: 0 };
      }
    }
  }
}
