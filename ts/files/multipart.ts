/**
 * multipart/byteranges framing (RFC 9110 section 14.6, RFC 2046 section 5.1.1).
 *
 * Only the framing is built here, as small memory chunks: each part's body is whatever
 * the caller maps a range to (a FileRegion for files), so a multi-range response of a
 * file is sent entirely with sendfile and its exact Content-Length is known up front.
 * No maintained npm package builds byteranges bodies around caller-provided parts:
 * the ones that exist emit buffers or streams, which would pull file bytes through JS.
 */
import type * as Crypto from 'node:crypto';
import { lazy } from '../lazy.js';
import { contentRange, type ByteRange } from './range.js';

const crypto = lazy<typeof Crypto>('node:crypto');

export interface Byteranges<T> {
  /** `multipart/byteranges; boundary=...` */
  contentType: string;
  /** Framing buffers interleaved with the parts' bodies, in order. */
  chunks: Array<Buffer | T>;
  /** Exact body length: framing plus the ranges' bytes. */
  length: number;
}

/** A boundary of 40 characters that no part body will contain except by a 2^-128 chance. */
export function randomBoundary(): string {
  return `catzilla-${crypto().randomBytes(16).toString('hex')}`;
}

/**
 * The body of a multipart/byteranges response: for each range a part with its
 * Content-Type (when given) and Content-Range, whose body is `bodyOf(range)`.
 */
export function byteranges<T>(
  ranges: readonly ByteRange[],
  size: number,
  partType: string | null,
  bodyOf: (range: ByteRange) => T[],
  boundary: string = randomBoundary(),
): Byteranges<T> {
  const chunks: Array<Buffer | T> = [];
  let length = 0;
  ranges.forEach((r, i) => {
    const head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\n${partType ? `Content-Type: ${partType}\r\n` : ''}Content-Range: ${contentRange(r, size)}\r\n\r\n`;
    const buf = Buffer.from(head, 'latin1');
    chunks.push(buf, ...bodyOf(r));
    length += buf.length + (r.end - r.start + 1);
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  chunks.push(tail);
  length += tail.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, chunks, length };
}
