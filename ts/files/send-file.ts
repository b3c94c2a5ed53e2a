/**
 * `sendFile`: one file as a response, with a declared Content-Length, validators,
 * conditionals, ranges, precompressed variants and Cache-Control; the bytes go out
 * with sendfile. `sendRegions`: the same for a representation made of memory pieces
 * and file regions of known total length (ranges are mapped onto the pieces).
 *
 *   app.get('/report', sendFile('data/report.pdf'));                 // a handler
 *   app.get('/dl/:name', (req) => sendFile(req, req.params.name, { root: 'uploads' }));
 *   app.get('/mixed', (req) => sendRegions(req, ['head\n', fileRegion('big.bin'), 'tail\n']));
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import nodePath from 'node:path';
import type mimeTypes from 'mime-types';
import Negotiator from 'negotiator';
import { errorCode, HttpError } from '../errors.js';
import { ResponseHeaders, type HeadersInit } from '../headers.js';
import type { Request } from '../request.js';
import type { HttpResponse } from '../response.js';
import { fileEtag, mtimeSeconds, type EtagMode } from './etag.js';
import { resolveUnder, type DotfilesPolicy } from './path.js';
import { FdOwner, fstat, isFileRegion, openPath, type FileRegion } from '../streaming/file-region.js';
import { respondTo, type RespondOptions, type Segment, type RequestLike } from './respond.js';

/** mime-types (with mime-db), loaded at the first extension lookup: an app that never sends a file need not pay for it at start-up. */
let mime: typeof mimeTypes | undefined;

/** Precompressed sibling files: encoding token -> file extension. */
export const PRECOMPRESSED: Readonly<Record<string, string>> = Object.freeze({ br: '.br', gzip: '.gz' });

export interface FileResponseOptions extends Pick<RespondOptions, 'ranges' | 'maxRanges' | 'stream'> {
  /** Content-Type; default from the file extension (mime-types), else application/octet-stream. */
  contentType?: string;
  /** 'strong' (default), 'weak' or false (no ETag). */
  etag?: EtagMode;
  /** Send Last-Modified and honour If-Modified-Since / If-Unmodified-Since (default true). */
  lastModified?: boolean;
  /** Cache-Control max-age in seconds (default 0). */
  maxAge?: number;
  /** Add `immutable` to Cache-Control (for fingerprinted assets with a long maxAge). */
  immutable?: boolean;
  /** A Cache-Control value of your own, or false for none (overrides maxAge/immutable). */
  cacheControl?: string | false;
  /**
   * Serve `file.br` / `file.gz` instead of `file` when the client accepts that encoding
   * (true: br then gzip; or a list of encodings in order of preference). Default false.
   */
  precompressed?: boolean | readonly string[];
  /** Extra response headers. */
  headers?: HeadersInit;
}

export interface SendFileOptions extends FileResponseOptions {
  /** Resolve the path under this directory, refusing anything that would leave it (`..`, NUL...). */
  root?: string;
  /** With `root`: dotfile segments are 404 ('ignore', default), 403 ('deny') or served ('allow'). */
  dotfiles?: DotfilesPolicy;
}

type Handler = (req: Request) => Promise<HttpResponse>;

/**
 * `sendFile(path, options)` is a handler serving that file; `sendFile(req, path, options)`
 * answers `req` with it. Missing file -> HttpError 404, unreadable -> 403.
 */
export function sendFile(path: string, options?: SendFileOptions): Handler;
export function sendFile(req: RequestLike, path: string, options?: SendFileOptions): Promise<HttpResponse>;
export function sendFile(a: string | RequestLike, b?: string | SendFileOptions, c?: SendFileOptions): Handler | Promise<HttpResponse> {
  if (typeof a === 'string') {
    const file = a;
    const options = checkOptions(b as SendFileOptions | undefined);
    return (req: Request) => serve(req, file, options);
  }
  if (typeof b !== 'string') return Promise.reject(new TypeError('sendFile(req, path, options): path must be a string'));
  let options: SendFileOptions;
  try {
    options = checkOptions(c);
  } catch (err) {
    return Promise.reject(err);
  }
  return serve(a, b, options);
}

async function serve(req: RequestLike, file: string, options: SendFileOptions): Promise<HttpResponse> {
  let full: string;
  if (options.root !== undefined) {
    const resolved = resolveUnder(nodePath.resolve(options.root), file, options.dotfiles);
    if (!resolved.ok) throw new HttpError(resolved.status);
    full = resolved.path;
  } else {
    full = nodePath.resolve(file);
  }
  const opened = await openFile(req, full, options);
  if (opened === null) throw new HttpError(404);
  return respondTo(req, opened, options);
}

/**
 * Opens `full` (or its best precompressed sibling the client accepts) and describes it.
 * Null when it is missing, a directory or not a regular file; HttpError 403 when unreadable.
 * `sibling(path)` may veto a sibling (static's symlink policy).
 */
export async function openFile(
  req: RequestLike,
  full: string,
  options: FileResponseOptions,
  sibling: (path: string) => Promise<string | null> = async (p) => p,
): Promise<import('./respond.js').Representation | null> {
  const encodings = precompressedList(options.precompressed);
  const headers = new ResponseHeaders(options.headers);
  const cacheControl = cacheControlValue(options);
  if (cacheControl !== null && !headers.has('cache-control')) headers.set('Cache-Control', cacheControl);
  if (encodings.length > 0) headers.append('Vary', 'Accept-Encoding');

  let variant: { fd: number; st: fs.BigIntStats; encoding: string | undefined } | null = null;
  if (encodings.length > 0) {
    const accepted = acceptedEncodings(req.header('accept-encoding'), encodings);
    for (const encoding of accepted) {
      if (encoding === 'identity') break;
      const path = await sibling(full + PRECOMPRESSED[encoding]!);
      if (path === null) continue;
      const v = await openRegular(path);
      if (v !== null) {
        variant = { ...v, encoding };
        break;
      }
    }
  }
  if (variant === null) {
    const v = await openRegular(full);
    if (v === null) return null;
    variant = { ...v, encoding: undefined };
  }
  const { fd, st, encoding } = variant;
  if (encoding !== undefined) headers.set('Content-Encoding', encoding);
  const size = Number(st.size);
  const owner = new FdOwner(fd);
  return {
    segments: [{ kind: 'file', fd, owner, offset: 0, length: size }],
    size,
    contentType: options.contentType ?? contentTypeOf(full),
    validators: {
      etag: fileEtag({ size: st.size, mtimeNs: st.mtimeNs }, options.etag ?? 'strong', encoding),
      lastModified: options.lastModified === false ? null : mtimeSeconds(st.mtimeNs),
    },
    headers,
    owners: [owner],
  };
}

/**
 * The encodings of `available` the client accepts, best first; 'identity' ends the useful
 * part of the list. Equal q-values prefer the order of `available` (br before gzip).
 * negotiator 1.x takes that preference as a second argument its type declarations lack.
 */
function acceptedEncodings(header: string | undefined, available: readonly string[]): string[] {
  const all = [...available, 'identity'];
  const negotiator = new Negotiator({ headers: { 'accept-encoding': header ?? '' } });
  const encodings = negotiator.encodings as unknown as (list: string[], options: { preferred: string[] }) => string[];
  return encodings.call(negotiator, all, { preferred: all });
}

/** Opens a regular file (O_NONBLOCK: a FIFO must not block the open); null when missing or not a regular file. */
async function openRegular(path: string): Promise<{ fd: number; st: fs.BigIntStats } | null> {
  let fd: number;
  try {
    fd = await openPath(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    return notFound(err);
  }
  try {
    const st = await fstat(fd);
    if (!st.isFile()) {
      fs.close(fd, () => {});
      return null;
    }
    return { fd, st };
  } catch (err) {
    fs.close(fd, () => {});
    throw err;
  }
}

/** Null for "there is no such file"; HttpError 403 for "not allowed"; anything else rethrown. */
export function notFound(err: unknown): null {
  const code = errorCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG' || code === 'EISDIR' || code === 'ENXIO') return null;
  if (code === 'EACCES' || code === 'EPERM') throw new HttpError(403);
  throw err;
}

export function contentTypeOf(file: string): string {
  mime ??= createRequire(import.meta.url)('mime-types') as typeof mimeTypes;
  return mime.contentType(nodePath.extname(file)) || 'application/octet-stream';
}

function cacheControlValue(options: FileResponseOptions): string | null {
  if (options.cacheControl === false) return null;
  if (typeof options.cacheControl === 'string') return options.cacheControl;
  const maxAge = options.maxAge ?? 0;
  return `public, max-age=${maxAge}${options.immutable ? ', immutable' : ''}`;
}

function precompressedList(option: FileResponseOptions['precompressed']): string[] {
  if (option === undefined || option === false) return [];
  if (option === true) return Object.keys(PRECOMPRESSED);
  return [...option];
}

export function checkOptions<T extends FileResponseOptions & { root?: string; dotfiles?: string }>(options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null) throw new TypeError('file options must be an object');
  if (options.maxAge !== undefined && (!Number.isSafeInteger(options.maxAge) || options.maxAge < 0)) {
    throw new TypeError(`maxAge must be a non-negative integer number of seconds, got ${String(options.maxAge)}`);
  }
  if (options.maxRanges !== undefined && (!Number.isSafeInteger(options.maxRanges) || options.maxRanges < 1)) {
    throw new TypeError(`maxRanges must be a positive integer, got ${String(options.maxRanges)}`);
  }
  if (options.etag !== undefined && options.etag !== false && options.etag !== 'strong' && options.etag !== 'weak') {
    throw new TypeError(`etag must be 'strong', 'weak' or false, got ${String(options.etag)}`);
  }
  if (options.dotfiles !== undefined && !['ignore', 'deny', 'allow'].includes(options.dotfiles)) {
    throw new TypeError(`dotfiles must be 'ignore', 'deny' or 'allow', got ${String(options.dotfiles)}`);
  }
  if (options.root !== undefined && (typeof options.root !== 'string' || options.root === '')) throw new TypeError('root must be a non-empty string');
  const pre = options.precompressed;
  if (pre !== undefined && typeof pre !== 'boolean') {
    if (!Array.isArray(pre) || pre.some((e) => !(e in PRECOMPRESSED))) {
      throw new TypeError(`precompressed must be a boolean or a list of ${Object.keys(PRECOMPRESSED).join(', ')}`);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------------

export interface SendRegionsOptions extends Pick<RespondOptions, 'ranges' | 'maxRanges' | 'stream' | 'status'> {
  /** Default application/octet-stream. */
  contentType?: string;
  /** Validators for conditionals and If-Range (none by default: If-Range then never matches). */
  etag?: string;
  /** Last-Modified, as a Date or ms. */
  lastModified?: Date | number;
  headers?: HeadersInit;
}

/**
 * A response made of memory pieces and file regions, with an exact Content-Length and,
 * by default, Range support: a range is mapped onto the pieces (memory is sliced,
 * regions are cut), so a "header + file + footer" body can be resumed like a file.
 * Path regions are opened here (to learn their length when it is not given); the
 * descriptors are closed by the core once sent, or here on every other path.
 */
export async function sendRegions(req: RequestLike, parts: ReadonlyArray<string | Uint8Array | FileRegion>, options: SendRegionsOptions = {}): Promise<HttpResponse> {
  if (!Array.isArray(parts)) throw new TypeError('sendRegions(req, parts): parts must be an array');
  const segments: Segment[] = [];
  const owners: FdOwner[] = [];
  try {
    for (const part of parts) {
      if (typeof part === 'string') segments.push({ kind: 'memory', data: Buffer.from(part) });
      else if (part instanceof Uint8Array) segments.push({ kind: 'memory', data: part });
      else if (isFileRegion(part)) segments.push(await regionSegment(part, owners));
      else throw new TypeError('sendRegions(): a part must be a string, a Uint8Array or a FileRegion');
    }
  } catch (err) {
    for (const owner of owners) owner.release();
    if (notFound(err) === null) throw new HttpError(404);
    throw err;
  }
  const size = segments.reduce((n, s) => n + (s.kind === 'memory' ? s.data.byteLength : s.length), 0);
  const lastModified = options.lastModified === undefined ? null : Math.floor(Number(options.lastModified) / 1000) * 1000;
  return respondTo(req, {
    segments,
    size,
    contentType: options.contentType ?? 'application/octet-stream',
    validators: { etag: options.etag ?? null, lastModified },
    headers: new ResponseHeaders(options.headers),
    owners,
  }, options);
}

async function regionSegment(region: FileRegion, owners: FdOwner[]): Promise<Segment> {
  let fd: number;
  let owner: FdOwner | null = null;
  if (region.path !== null) {
    fd = await openPath(region.path);
    owner = new FdOwner(fd);
    owners.push(owner);
  } else {
    fd = region.fd!;
    if (region.closeFd) {
      owner = new FdOwner(fd);
      owners.push(owner);
    }
  }
  const length = region.length ?? Math.max(0, Number((await fstat(fd)).size) - region.offset);
  return { kind: 'file', fd, owner, offset: region.offset, length };
}
