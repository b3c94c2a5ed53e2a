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
export function handshakeBlock(key: string, protocol: string | null, headers: ResponseHeaders): string {
  let block = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  if (protocol !== null) block += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  return block + headers.toBlock(HANDSHAKE_FIELDS);
}
