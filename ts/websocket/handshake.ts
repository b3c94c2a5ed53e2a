/**
 * The server side of the RFC 6455 opening handshake: which requests may be upgraded, the
 * Sec-WebSocket-Accept value, the subprotocol choice, the 101's header block. Refusals are
 * HttpErrors with the status RFC 6455 asks for (426 for a plain request or another version,
 * 400 for a bad key).
 */
import type * as Crypto from 'node:crypto';
import { CORE_FIELDS } from '../encode.js';
import { HttpError } from '../errors.js';
import { lazy } from '../lazy.js';
import type { ResponseHeaders } from '../headers.js';
import { RequestFlags } from '../native.js';
import type { Request } from '../request.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const crypto = lazy<typeof Crypto>('node:crypto');

/** Fields of a 101 the core and the handshake write; middleware copies are dropped. */
const HANDSHAKE_FIELDS: ReadonlySet<string> = new Set([...CORE_FIELDS, 'upgrade', 'content-type', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return crypto().createHash('sha1').update(key + GUID).digest('base64');
}

function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(',').some((part) => part.trim().toLowerCase() === token);
}

const UPGRADE_HEADERS = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' };

/** Checks a request to a WebSocket route; returns its key, or throws the HttpError to answer with. */
export function checkUpgrade(req: Request, flags: number): string {
  const h = req.headers;
  if (!(flags & RequestFlags.Upgrade) || !hasToken(h['upgrade'], 'websocket') || !hasToken(h['connection'], 'upgrade')) {
    throw new HttpError(426, 'This resource speaks WebSocket: send an upgrade request', { headers: UPGRADE_HEADERS });
  }
  if (h['sec-websocket-version'] !== '13') {
    throw new HttpError(426, 'Unsupported WebSocket version (13 is supported)', { headers: UPGRADE_HEADERS });
  }
  const key = (h['sec-websocket-key'] ?? '').trim();
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) throw new HttpError(400, 'Sec-WebSocket-Key must be 16 bytes in base64');
  return key;
}

/** The first protocol the client offers that the route speaks (null: none asked or none shared). */
export function chooseProtocol(req: Request, supported: readonly string[] | undefined): string | null {
  if (supported === undefined || supported.length === 0) return null;
  const offered = req.headers['sec-websocket-protocol'];
  if (offered === undefined) return null;
  for (const p of offered.split(',')) {
    const name = p.trim();
    if (supported.includes(name)) return name;
  }
  return null;
}

/** The header block of the 101 for `key`: the handshake's fields, then what middleware added (Set-Cookie...). */
export function handshakeBlock(key: string, protocol: string | null, headers: ResponseHeaders, extensions: string | null = null): string {
  let block = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  if (protocol !== null) block += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (extensions !== null) block += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return block + headers.toBlock(HANDSHAKE_FIELDS);
}

// ---- permessage-deflate (RFC 7692) negotiation ----

/** A route's permessage-deflate settings (`app.ws(path, { perMessageDeflate: {...} })`). */
export interface PerMessageDeflateOptions {
  /** Messages shorter than this many bytes are sent uncompressed (default 1024). */
  threshold?: number;
  /**
   * Compress each sent message on its own (default true): no deflate stream is kept per
   * connection (one per thread serves them all) and a room broadcast is compressed once for
   * every member with the same parameters. false keeps a ~256 KiB stream per connection
   * (less with serverMaxWindowBits / memLevel) for a better ratio on similar messages.
   */
  serverNoContextTakeover?: boolean;
  /** Ask clients to compress each message on its own: no inflate stream is kept per connection (default false). */
  clientNoContextTakeover?: boolean;
  /** Largest window (9..15) the server compresses with (default 15). */
  serverMaxWindowBits?: number;
  /** Largest window (9..15) asked of clients that offer client_max_window_bits (default 15). */
  clientMaxWindowBits?: number;
  /** zlib memLevel of the server's deflate streams, 1..9 (default 8). */
  memLevel?: number;
  /** zlib compression level, 0..9 (default 6). */
  level?: number;
}

/** What the handshake agreed: the parameters both sides use, and the response's extension value. */
export interface DeflateAgreement {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  /** The Sec-WebSocket-Extensions value of the 101. */
  response: string;
}

type Params = Map<string, string | true>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Splits `s` at `sep` outside quoted strings. */
function splitOutsideQuotes(s: string, sep: string): string[] | null {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < s.length) {
        cur += c + s[++i];
        continue;
      }
      if (c === '"') quoted = false;
      cur += c;
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (quoted) return null;
  parts.push(cur);
  return parts;
}

/**
 * The extension offers of a Sec-WebSocket-Extensions value, in order: name and parameters.
 * A malformed element is returned with `bad` set (its offer is declined, the others stand);
 * a parameter given twice makes its offer bad too (RFC 7692 7: decline such an offer).
 */
export function parseExtensions(header: string | undefined): Array<{ name: string; params: Params; bad: boolean }> {
  if (header === undefined) return [];
  const offers: Array<{ name: string; params: Params; bad: boolean }> = [];
  for (const element of splitOutsideQuotes(header, ',') ?? []) {
    if (element.trim() === '') continue;
    const parts = splitOutsideQuotes(element, ';') ?? [element];
    const name = parts[0]!.trim().toLowerCase();
    const params: Params = new Map();
    let bad = !TOKEN.test(name);
    for (const raw of parts.slice(1)) {
      const eq = raw.indexOf('=');
      const key = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase();
      let value: string | true = true;
      if (eq >= 0) {
        value = raw.slice(eq + 1).trim();
        if (value.startsWith('"')) {
          if (value.length < 2 || !value.endsWith('"')) bad = true;
          value = value.slice(1, -1).replace(/\\(.)/g, '$1');
        }
        if (!TOKEN.test(value)) bad = true; // a quoted value must still be a token (RFC 6455 9.1)
      }
      if (!TOKEN.test(key) || params.has(key)) bad = true;
      params.set(key, value);
    }
    offers.push({ name, params, bad });
  }
  return offers;
}

function windowBits(value: string | true): number | null {
  if (value === true || !/^[0-9]{1,2}$/.test(value)) return null;
  const n = Number(value);
  return n >= 8 && n <= 15 ? n : null;
}

/** Validates a route's perMessageDeflate option; returns it with defaults filled in. */
export function checkDeflateOptions(option: boolean | PerMessageDeflateOptions | undefined): Required<PerMessageDeflateOptions> | null {
  if (option === undefined || option === false) return null;
  const o: PerMessageDeflateOptions = option === true ? {} : option;
  if (typeof o !== 'object' || o === null) throw new TypeError('WebSocket perMessageDeflate must be a boolean or an object');
  const int = (name: keyof PerMessageDeflateOptions, lo: number, hi: number, dflt: number): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new TypeError(`WebSocket perMessageDeflate.${name} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
    return v;
  };
  const bool = (name: keyof PerMessageDeflateOptions, dflt: boolean): boolean => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new TypeError(`WebSocket perMessageDeflate.${name} must be a boolean`);
    return v;
  };
  return {
    threshold: int('threshold', 0, Number.MAX_SAFE_INTEGER, 1024),
    serverNoContextTakeover: bool('serverNoContextTakeover', true),
    clientNoContextTakeover: bool('clientNoContextTakeover', false),
    // zlib's raw deflate cannot use a 256-byte window: 9 is the smallest
    serverMaxWindowBits: int('serverMaxWindowBits', 9, 15, 15),
    clientMaxWindowBits: int('clientMaxWindowBits', 9, 15, 15),
    memLevel: int('memLevel', 1, 9, 8),
    level: int('level', 0, 9, 6),
  };
}

/**
 * Picks the first permessage-deflate offer the route can accept (RFC 7692 5 and 7.1). An offer is
 * declined when it has an unknown or repeated parameter, a malformed value, or asks for
 * server_max_window_bits=8 (zlib cannot compress with a 256-byte window). Returns null when no
 * offer is accepted: the connection then runs without compression.
 */
export function negotiateDeflate(header: string | undefined, o: Required<PerMessageDeflateOptions>): DeflateAgreement | null {
  for (const offer of parseExtensions(header)) {
    if (offer.name !== 'permessage-deflate' || offer.bad) continue;
    let serverNoContext = o.serverNoContextTakeover;
    let clientNoContext = o.clientNoContextTakeover;
    let serverBits = o.serverMaxWindowBits;
    let clientBits = 15;
    let sayServerBits = serverBits < 15;
    let sayClientBits = false;
    let ok = true;
    for (const [key, value] of offer.params) {
      if (key === 'server_no_context_takeover' && value === true) serverNoContext = true;
      else if (key === 'client_no_context_takeover' && value === true) clientNoContext = true;
      else if (key === 'server_max_window_bits') {
        const bits = windowBits(value);
        if (bits === null || bits === 8) ok = false;
        else {
          serverBits = Math.min(bits, serverBits);
          sayServerBits = true;
        }
      } else if (key === 'client_max_window_bits') {
        // without a value: the client can limit its window if asked to
        const bits = value === true ? 15 : windowBits(value);
        if (bits === null) ok = false;
        else {
          clientBits = Math.min(bits, o.clientMaxWindowBits);
          sayClientBits = value !== true || clientBits < 15;
        }
      } else ok = false;
    }
    if (!ok) continue;
    let response = 'permessage-deflate';
    if (serverNoContext) response += '; server_no_context_takeover';
    if (clientNoContext) response += '; client_no_context_takeover';
    if (sayServerBits) response += `; server_max_window_bits=${serverBits}`;
    if (sayClientBits) response += `; client_max_window_bits=${clientBits}`;
    return { serverNoContextTakeover: serverNoContext, clientNoContextTakeover: clientNoContext, serverMaxWindowBits: serverBits, clientMaxWindowBits: clientBits, response };
  }
  return null;
}
