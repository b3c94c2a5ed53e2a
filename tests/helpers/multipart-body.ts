/**
 * Builds multipart/form-data bodies byte by byte for upload tests (the exact bytes a client
 * would send), so tests can also build broken ones.
 */
export const BOUNDARY = '----catzillaTestBoundary7MA4YWxk';

export type BodyPart =
  | { name: string; value: string }
  | { name: string; filename?: string; filenameStar?: string; type?: string; data: Buffer; headers?: string[] };

/** The bytes of a part's head (delimiter line included). */
export function partHead(part: BodyPart, boundary = BOUNDARY): Buffer {
  const lines = [`--${boundary}`];
  if ('value' in part) {
    lines.push(`Content-Disposition: form-data; name="${part.name}"`);
  } else {
    let disp = `Content-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) disp += `; filename="${part.filename}"`;
    if (part.filenameStar !== undefined) disp += `; filename*=${part.filenameStar}`;
    lines.push(disp, `Content-Type: ${part.type ?? 'application/octet-stream'}`, ...(part.headers ?? []));
  }
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

export function multipartBody(parts: BodyPart[], boundary = BOUNDARY): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    pieces.push(partHead(part, boundary), 'value' in part ? Buffer.from(part.value, 'utf8') : part.data, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

/** Deterministic pseudo-random bytes (so a shifted or dropped byte changes the hash). */
export function patterned(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) out.writeUInt32LE(x, i);
    else for (let j = i; j < size; j++) out[j] = (x >>> ((j - i) * 8)) & 0xff;
  }
  return out;
}

/** Open descriptors of this process (Linux). */
import fs from 'node:fs';
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
