/**
 * File regions: the chunk type that puts a byte range of a file into a response
 * without passing through JavaScript. A stream source may yield them among memory
 * chunks; the pump hands each one to the core (`streamWriteFile`), which sends it
 * with sendfile(2) in order with the chunks around it.
 *
 * Descriptor ownership, the one rule that keeps files from leaking:
 * - a region made from a path is opened (async fs.open) when it is sent and its
 *   descriptor is handed to the core with closeFd=true: the core closes it on every path;
 * - a region made from a descriptor the caller opened stays the caller's
 *   (closeFd=false) unless `closeFd: true` says otherwise;
 * - regions cut by the framework from one file it opened (sendFile, several ranges)
 *   share an `FdOwner`: every part but the last goes with closeFd=false, the last one
 *   transfers the descriptor, and `release()` (stream cancelled, response dropped or
 *   closed) closes it when it was never transferred.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreError } from '../errors.js';

export interface FileRegionOptions {
  /** First byte of the region (default 0). */
  offset?: number;
  /** Bytes to send (default: from `offset` to the end of the file, read with fstat when sent). */
  length?: number;
  /** For a descriptor: let the core close it once sent or abandoned (default false). Paths are always closed. */
  closeFd?: boolean;
}

/** A region as the core takes it. */
export interface OpenedRegion {
  fd: number;
  offset: number;
  length: number;
  /** The core owns `fd` after the write call (it closes it on every path). */
  closeFd: boolean;
}

/**
 * A descriptor the framework opened, shared by the regions cut from it. Regions
 * acquire it in order; the last acquisition transfers it to the core.
 */
export class FdOwner {
  private remaining = 0;
  private state: 'open' | 'transferred' | 'closed' = 'open';

  constructor(readonly fd: number) {}

  /** @internal One more region will be sent from this descriptor. */
  addUse(): void {
    this.remaining++;
  }

  /** Takes the descriptor for one write: closeFd is true for the last region (the core then owns it). */
  acquire(): { fd: number; closeFd: boolean } {
    if (this.state !== 'open') throw new CoreError('ECLOSED', 'the file of this region was already released');
    this.remaining--;
    if (this.remaining <= 0) {
      this.state = 'transferred';
      return { fd: this.fd, closeFd: true };
    }
    return { fd: this.fd, closeFd: false };
  }

  /** Whether JavaScript still owns (and must close) the descriptor. */
  get owned(): boolean {
    return this.state === 'open';
  }

  /** Closes the descriptor unless the core owns it; idempotent. */
  release(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    fs.close(this.fd, () => {});
  }
}

const kRegion = Symbol.for('catzilla.fileRegion');

/** A byte range of a file, sent with sendfile. Build one with `fileRegion()`. */
export class FileRegion {
  /** @internal Brand that survives duplicated module instances (dist/ and ts/). */
  readonly [kRegion] = true;

  private constructor(
    /** The file's path, or null for a descriptor region. */
    readonly path: string | null,
    /** The caller's descriptor, or null for a path region. */
    readonly fd: number | null,
    readonly offset: number,
    /** Undefined: up to the end of the file (known once opened). */
    readonly length: number | undefined,
    /** For descriptor regions: the core closes the descriptor. */
    readonly closeFd: boolean,
    /** @internal For regions cut from a descriptor the framework opened. */
    readonly owner: FdOwner | null,
  ) {}

  /** @internal */
  static create(file: string | URL | number, options: FileRegionOptions = {}): FileRegion {
    if (typeof options !== 'object' || options === null) throw new TypeError('fileRegion() options must be an object');
    const offset = checkInteger(options.offset ?? 0, 'offset');
    const length = options.length === undefined ? undefined : checkInteger(options.length, 'length');
    if (options.closeFd !== undefined && typeof options.closeFd !== 'boolean') throw new TypeError('fileRegion(): closeFd must be a boolean');
    if (typeof file === 'number') {
      if (!Number.isInteger(file) || file < 0) throw new TypeError(`fileRegion(): a descriptor must be a non-negative integer, got ${file}`);
      return new FileRegion(null, file, offset, length, options.closeFd === true, null);
    }
    const path = file instanceof URL ? fileURLToPath(file) : file;
    if (typeof path !== 'string' || path === '') throw new TypeError('fileRegion() needs a path, a file: URL or a descriptor');
    if (path.includes('\0')) throw new TypeError('fileRegion(): the path contains a NUL byte');
    if (options.closeFd === false) throw new TypeError('fileRegion(): a path region is opened by the framework and always closed by it');
    return new FileRegion(path, null, offset, length, true, null);
  }

  /** @internal A region of a descriptor the framework opened (sendFile, ranges). */
  static owned(owner: FdOwner, offset: number, length: number): FileRegion {
    owner.addUse();
    return new FileRegion(null, owner.fd, offset, length, false, owner);
  }

  /** Releases what this region holds when it will never be sent (only framework-owned descriptors). */
  release(): void {
    this.owner?.release();
  }
}

/**
 * `fileRegion(pathOrFd, { offset, length })`: a chunk that sends `length` bytes of the
 * file from `offset` with sendfile. A path is opened when the region is sent and always
 * closed by the core; a descriptor stays yours unless `closeFd: true`.
 */
export function fileRegion(file: string | URL | number, options?: FileRegionOptions): FileRegion {
  return FileRegion.create(file, options);
}

/** Whether `value` is a FileRegion (also one made by another copy of this module). */
export function isFileRegion(value: unknown): value is FileRegion {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kRegion] === true;
}

/**
 * What the pump calls for a region it is about to write: the descriptor, offset,
 * length and ownership, at once when nothing must be opened or measured, else a
 * promise (async fs.open / fstat). When the caller cannot write the result after all,
 * it must call `abandonRegion(opened)`.
 */
export function openRegion(region: FileRegion): OpenedRegion | Promise<OpenedRegion> {
  if (region.owner !== null) {
    const { fd, closeFd } = region.owner.acquire();
    return { fd, offset: region.offset, length: region.length ?? 0, closeFd };
  }
  if (region.fd !== null) {
    const fd = region.fd;
    if (region.length !== undefined) return { fd, offset: region.offset, length: region.length, closeFd: region.closeFd };
    return fstatSize(fd).then(
      (size) => ({ fd, offset: region.offset, length: Math.max(0, size - region.offset), closeFd: region.closeFd }),
      (err) => {
        if (region.closeFd) fs.close(fd, () => {});
        throw err;
      },
    );
  }
  return openPath(region.path!).then(async (fd) => {
    try {
      const length = region.length ?? Math.max(0, (await fstatSize(fd)) - region.offset);
      return { fd, offset: region.offset, length, closeFd: true };
    } catch (err) {
      fs.close(fd, () => {});
      throw err;
    }
  });
}

/** Closes a descriptor that was opened for a region the caller could not hand to the core. */
export function abandonRegion(opened: OpenedRegion): void {
  if (opened.closeFd) fs.close(opened.fd, () => {});
}

/** Opens a file for reading; resolves to a raw descriptor (never a FileHandle, whose GC would close it behind the core's back). */
export function openPath(path: string, flags: number = fs.constants.O_RDONLY): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function fstat(fd: number): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))));
}

async function fstatSize(fd: number): Promise<number> {
  return Number((await fstat(fd)).size);
}

function checkInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`fileRegion(): ${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The bytes of a region, read through JavaScript: for transforms that must see them (a
 * compressor), where sendfile cannot apply. Closes what the region owns on every path.
 */
export async function* regionBytes(region: FileRegion): AsyncGenerator<Buffer, void, undefined> {
  const opened = await openRegion(region);
  if (opened.length === 0) {
    abandonRegion(opened);
    return;
  }
  // plain reads: the descriptor has one owner (abandonRegion closes it exactly once)
  let offset = opened.offset;
  let left = opened.length;
  try {
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(left, 64 * 1024));
      const n = await readAt(opened.fd, buffer, offset);
      if (n === 0) throw new Error(`file region: the file ended ${left} bytes before the region did`);
      offset += n;
      left -= n;
      yield n === buffer.length ? buffer : buffer.subarray(0, n);
    }
  } finally {
    abandonRegion(opened);
  }
}

function readAt(fd: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, 0, buffer.length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));
}

/** Memory chunks as they are; file regions expanded into their bytes (see regionBytes). */
export async function* expandRegions<T>(chunks: AsyncIterable<T>): AsyncGenerator<T | Buffer, void, undefined> {
  for await (const chunk of chunks) {
    if (isFileRegion(chunk)) yield* regionBytes(chunk);
    else yield chunk;
  }
}
