/**
 * `pgSocket`: the socket factory to give `pg.Pool` (`new pg.Pool({ ..., stream: pgSocket })`)
 * so that exports read PostgreSQL into one reused buffer per connection instead of a new
 * Buffer per socket read.
 *
 * Why: a plain net.Socket allocates an ArrayBuffer for every read (up to 64 KiB). An export
 * reading at wire speed leaves them dead faster than V8 collects them (V8 waits for tens of
 * MiB of external memory before it scavenges), so a server exporting 10 M rows peaked at
 * idle + 29-49 MiB of which most was dead read buffers. With this factory the socket reads
 * into its own 64 KiB (Node's `onread` option): a COPY (`pg-copy-out.ts`) strips its framing in
 * place and the response copies the payload into the core's memory (freed as it is sent), so
 * an export allocates nothing per read. What pg itself parses (every other message, cursor
 * rows) is handed to pg as a copy, as a plain socket would.
 *
 * TLS (`ssl` in the pool's config) gets a plain socket: pg wraps it in TLS itself.
 */
import net from 'node:net';

/** Reads into the socket's buffer: return false to pause the socket (resume() to go on). */
export type ReadTaker = (view: Buffer) => boolean;

interface Lender {
  taker: ReadTaker | null;
}

const lenders = new WeakMap<object, Lender>();

const READ_BUFFER = 64 * 1024;

export function pgSocket(config?: { ssl?: unknown }): net.Socket {
  if (config?.ssl) return new net.Socket(); // pg turns TLS on for any truthy ssl
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  let onRead: (view: Buffer) => boolean = () => true;
  const socket: net.Socket = new net.Socket({
    onread: { buffer, callback: (nread: number): boolean => onRead(buffer.subarray(0, nread)) },
  } as net.SocketConstructorOpts);
  onRead = lendReads(socket, (copy) => socket.emit('data', copy));
  return socket;
}

/**
 * Makes `socket` lend its reads (what pgSocket does): returns what to call with each read (a
 * view of memory reused by the next read; false pauses the socket). Reads go to the taker set
 * by takeReads, or else to `toPg` as a copy (pg's parser may keep what it was given).
 */
export function lendReads(socket: object, toPg: (copy: Buffer) => void): (view: Buffer) => boolean {
  const lender: Lender = { taker: null };
  lenders.set(socket, lender);
  return (view) => {
    if (lender.taker !== null) return lender.taker(view);
    toPg(Buffer.from(view));
    return true;
  };
}

/**
 * Takes the reads of a `pgSocket` (null: gives them back to pg). False when `socket` is not
 * one (a plain socket: read it the stream way).
 */
export function takeReads(socket: object, taker: ReadTaker | null): boolean {
  const lender = lenders.get(socket);
  if (lender === undefined) return false;
  lender.taker = taker;
  return true;
}
