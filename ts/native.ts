/**
 * The seam between TypeScript and the C core (bindings/ over core/).
 *
 * The addon is loaded once. `CATZILLA_ADDON` may name another build of it
 * (the AddressSanitizer build used by CI's second test run).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

/** Options understood by the C core. Sizes in bytes, times in milliseconds (0 = off). */
export interface NativeServerOptions {
  /** Largest request line + header block (431 / 414 above it). */
  maxHeaderSize: number;
  /** Longest request target (414 above it). */
  maxUrlLength: number;
  /** Largest request body (413 above it). */
  maxBodySize: number;
  /** Largest number of header fields (431 above it). */
  maxHeaderCount: number;
  /** From the first byte of a request to the end of its headers (408). */
  headersTimeout: number;
  /** Idle keep-alive connection with no request in progress (closed silently). */
  keepAliveTimeout: number;
  /** Longest silence while a request body is being received (408). */
  bodyTimeout: number;
  /** Unread pipelined bytes buffered per connection before reading stops. */
  maxPipelineBuffer: number;
}

/** Why a request ended before its response did (`onAbort`'s reason). */
export const enum AbortReason {
  ClientClosed = 1,
  ConnectionError = 2,
  Timeout = 3,
  ServerClosing = 4,
  BadRequest = 5,
}

/** `onRequest` flags. */
export const enum RequestFlags {
  Http10 = 1,
  KeepAlive = 2,
  HasBody = 4,
}

/** `respond` flags. */
export const enum RespondFlags {
  /** Send `Connection: close` and close the connection after the response. */
  Close = 1,
  /** Do not add a Content-Length header (the status forbids a body: 1xx, 204, 304). */
  NoContentLength = 2,
}

export interface NativeServerCallbacks {
  /**
   * A request's headers are complete. `id` names this request (and its response) in every
   * later call; it becomes invalid once the response has ended or the connection closed.
   * `rawHeaders` is the header block as received, one `Name: value\r\n` per field.
   */
  onRequest(id: number, method: string, url: string, rawHeaders: string, flags: number): void;
  /** A piece of the request body (already de-chunked). */
  onBody(id: number, chunk: Buffer): void;
  /** The request body is complete (also called for requests without a body). */
  onBodyEnd(id: number): void;
  /** The connection closed or failed before the response ended; see AbortReason. */
  onAbort(id: number, reason: number): void;
}

export interface NativeAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export interface NativeServerStats {
  connectionsAccepted: number;
  connectionsActive: number;
  requests: number;
  bytesRead: number;
  bytesWritten: number;
  writes: number;
  /** Responses by status class and error answers sent by the core itself. */
  responses1xx: number;
  responses2xx: number;
  responses3xx: number;
  responses4xx: number;
  responses5xx: number;
  parseErrors: number;
  timeouts: number;
}

export interface NativeServer {
  /** Bind and listen. Throws an Error with `code` (EADDRINUSE, EACCES, EINVAL...). */
  listen(host: string, port: number, backlog: number): NativeAddress;
  /**
   * Send a whole response: status line, `headerBlock` (`Name: value\r\n` per field, validated
   * by the caller), Date, Content-Length and Connection added by the core, then the body
   * (omitted on the wire for HEAD). Throws `ECLOSED` when `id` is no longer valid.
   */
  respond(id: number, status: number, headerBlock: string, body: string | Uint8Array | null, flags: number): void;
  /** Stop / restart delivering body chunks for `id` (the core stops reading the socket). */
  pauseBody(id: number): void;
  resumeBody(id: number): void;
  /** The peer address of the request's connection. Throws `ECLOSED` when `id` is no longer valid. */
  remoteAddress(id: number): NativeAddress;
  /**
   * Stop accepting, close idle connections, let in-flight responses finish for up to `graceMs`,
   * then close the rest; `done` runs once every connection is closed.
   */
  close(graceMs: number, done: () => void): void;
  stats(): NativeServerStats;
}

export interface NativeAddon {
  Server: new (options: NativeServerOptions, callbacks: NativeServerCallbacks) => NativeServer;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function addonPath(): string {
  const chosen = process.env.CATZILLA_ADDON;
  if (chosen) return path.resolve(chosen);
  return path.join(root, 'build', 'Release', 'catzilla.node');
}

let loaded: NativeAddon | undefined;

/** The native addon; throws a clear error when it has not been built. */
export function native(): NativeAddon {
  if (loaded) return loaded;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    throw new Error(`catzilla: native addon not found at ${file}; run \`npm run build\` (needs cmake, a C compiler and node-llhttp)`);
  }
  const require = createRequire(import.meta.url);
  loaded = require(file) as NativeAddon;
  return loaded;
}
