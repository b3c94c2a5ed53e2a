/**
 * A raw WebSocket client for wire tests: it sends the opening handshake and exact (masked)
 * frames, and parses the server's frames byte by byte, checking that they are unmasked and
 * well-formed. Every wait is bounded.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { DEFAULT_WAIT_MS } from './raw-client.js';

export interface Frame {
  fin: boolean;
  /** RSV1: a compressed message (only once permessage-deflate was agreed). */
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A message compressed the way a permessage-deflate client does it on its own (no context takeover). */
export function deflateMessage(payload: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(typeof payload === 'string' ? Buffer.from(payload) : payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** A compressed message's payload, inflated (no context takeover). */
export function inflateMessage(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** A masked client frame (`b0`: FIN/RSV bits and opcode as one byte). */
export function clientFrame(b0: number, payload: Buffer | string, opts: { mask?: boolean; lengthBytes?: 0 | 2 | 8 } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = opts.mask ?? true;
  const len = data.length;
  const parts: Buffer[] = [];
  const lb = opts.lengthBytes ?? (len < 126 ? 0 : len <= 0xffff ? 2 : 8);
  const head = Buffer.alloc(2 + lb);
  head[0] = b0;
  if (lb === 0) head[1] = len;
  else if (lb === 2) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (mask) head[1]! |= 0x80;
  parts.push(head);
  if (mask) {
    const key = randomBytes(4);
    parts.push(key);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = data[i]! ^ key[i & 3]!;
    parts.push(masked);
  } else {
    parts.push(data);
  }
  return Buffer.concat(parts);
}

export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

export class WsClient {
  /** Raw bytes after the 101 head, not parsed into frames yet. */
  private buf = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  ended = false;
  head = '';

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** Connects and performs the handshake; rejects unless the answer is 101 with the right accept key. */
  static async connect(port: number, path = '/ws', extra: Record<string, string> = {}): Promise<WsClient> {
    const { client, head } = await WsClient.handshake(port, path, extra);
    if (!/^HTTP\/1\.1 101 /.test(head)) throw new Error(`expected 101, got: ${head}`);
    return client;
  }

  /** Sends a handshake and returns the client with the response head (whatever its status). */
  static async handshake(port: number, path: string, extra: Record<string, string> = {}, key = randomBytes(16).toString('base64')): Promise<{ client: WsClient; head: string; key: string }> {
    const socket = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    const client = new WsClient(socket);
    const headers: Record<string, string> = {
      Host: '127.0.0.1', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13', ...extra,
    };
    let req = `GET ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) if (v !== '') req += `${k}: ${v}\r\n`;
    socket.write(req + '\r\n');
    await client.until(() => client.head !== '' || client.ended, 'the handshake answer');
    return { client, head: client.head, key };
  }

  static expectedAccept(key: string): string {
    return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  }

  send(b0: number, payload: Buffer | string, opts?: { mask?: boolean; lengthBytes?: 0 | 2 | 8 }): void {
    this.socket.write(clientFrame(b0, payload, opts));
  }

  text(s: string): void {
    this.send(0x81, s);
  }

  /** The next frame from the server. */
  async next(what = 'a frame', ms = DEFAULT_WAIT_MS): Promise<Frame> {
    await this.until(() => this.frames.length > 0 || this.ended, what, ms);
    const f = this.frames.shift();
    if (f === undefined) throw new Error(`connection ended while waiting for ${what}`);
    return f;
  }

  /** Waits until the server closed the TCP connection. */
  async waitEnd(ms = DEFAULT_WAIT_MS): Promise<void> {
    await this.until(() => this.ended, 'the connection to end', ms);
  }

  /** Frames received so far and not taken by next(). */
  pending(): Frame[] {
    return this.frames;
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    if (this.head === '') {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.buf.subarray(0, end + 4).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
    }
    if (!this.head.startsWith('HTTP/1.1 101 ')) return; // a refusal: its body is not frames
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]!;
      const b1 = this.buf[1]!;
      if (b1 & 0x80) throw new Error('the server sent a masked frame');
      const deflate = /\r\nSec-WebSocket-Extensions: permessage-deflate/i.test(this.head);
      if (b0 & 0x30 || (b0 & 0x40 && (!deflate || (b0 & 0x0f) === 0 || (b0 & 0x08) !== 0))) throw new Error('the server set reserved bits');
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload: Buffer.from(this.buf.subarray(off, off + len)) });
      this.buf = this.buf.subarray(off + len);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until(cond: () => boolean, what: string, ms = DEFAULT_WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
