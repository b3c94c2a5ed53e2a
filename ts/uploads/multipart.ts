/**
 * `req.multipart(limits)`: the parts of a multipart/form-data body (or the fields of an
 * urlencoded one) as they arrive. busboy parses; it is fed from the request body one chunk at a
 * time and only while it wants more (its write() result and 'drain'), and it stops wanting more
 * while a file part's stream is unread. So a slow consumer leaves the body queue full, and the
 * queue (ts/request-body.ts) makes the core stop reading the socket: nothing holds more than a
 * few high-water marks of an upload in memory.
 *
 * A file part is a Node Readable (`part.stream`, busboy's own stream: the chunks are views of
 * the body's buffers), an async iterable of Buffers, and `part.toWeb()` a web ReadableStream
 * over the same chunks, so it can be piped into a hash, a file, or returned as a response.
 */
import type { Readable } from 'node:stream';
import type Busboy from 'busboy';
import { CoreError, HttpError } from '../errors.js';
import { lazy } from '../lazy.js';
import { safeFilename } from './filename.js';
import { HeaderGuard } from './header-guard.js';
import { limitError, malformedError, resolveLimits, type ResolvedLimits, type UploadLimits } from './limits.js';

const busboy = lazy<typeof Busboy>('busboy');

/**
 * Bytes busboy and each file part's stream buffer before asking the body for no more: one socket
 * read of the core (at most 256 KiB), so a part consumer that keeps up never makes the parser
 * wait on a half-full buffer.
 */
const PARSER_HIGH_WATER_MARK = 256 * 1024;

/** Unread body bytes up to which a rejected upload keeps its connection (the core reads and drops them). */
const DRAIN_BUDGET = 1024 * 1024;

/** A non-file part (or an urlencoded field). */
/** What an upload is read from: a request's headers and its body as it arrives (a Request is one). */
export interface UploadBody extends AsyncIterable<Buffer> {
  header(name: string): string | undefined;
}

export interface FieldPart {
  readonly kind: 'field';
  readonly name: string;
  readonly value: string;
  readonly mimeType: string;
}

/** A file part: read it (stream, iteration or toWeb()) or leave it untouched, and it is skipped when the next part is asked for. */
export class FilePart implements AsyncIterable<Buffer> {
  readonly kind = 'file' as const;
  /** The form field's name. */
  readonly name: string;
  /** The client's filename made safe to show (never a path: see safeFilename); '' when none was sent. */
  readonly filename: string;
  readonly mimeType: string;
  /** Content-Transfer-Encoding as sent (browsers send none: '7bit'). */
  readonly encoding: string;
  readonly #stream: Readable;
  #claimed = false;

  constructor(name: string, filename: string, mimeType: string, encoding: string, stream: Readable) {
    this.name = name;
    this.filename = filename;
    this.mimeType = mimeType;
    this.encoding = encoding;
    this.#stream = stream;
  }

  /** The part's bytes as a Node Readable; it errors when the upload fails (limit, malformed, client gone). */
  get stream(): Readable {
    this.#claimed = true;
    return this.#stream;
  }

  /**
   * The part's bytes as a web ReadableStream of the same Buffers (not copied: Node's
   * Readable.toWeb() copies every chunk), pulled one at a time, so the reader's pace is the
   * upload's pace; cancelling it destroys the part's stream.
   */
  toWeb(): ReadableStream<Uint8Array> {
    const stream = this.stream;
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const r = await chunks.next();
          if (r.done === true) controller.close();
          else controller.enqueue(r.value);
        },
        async cancel() {
          await chunks.return?.();
          stream.destroy();
        },
      },
      { highWaterMark: 0 },
    );
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.stream[Symbol.asyncIterator]();
  }

  /** Skips the part's bytes unless the application took the stream. */
  skipUnlessClaimed(): void {
    if (!this.#claimed && !this.#stream.destroyed) this.#stream.resume();
  }

  get claimed(): boolean {
    return this.#claimed;
  }
}

export type Part = FieldPart | FilePart;

type Waiter = { resolve(r: IteratorResult<Part>): void; reject(err: unknown): void };

/** What ends the iteration without an error (the reader stopped early). */
const STOPPED = new CoreError('ESTOPPED', 'multipart reading stopped by the application');

export class MultipartReader implements AsyncIterableIterator<Part> {
  readonly limits: ResolvedLimits;
  /** Bytes of the body fed to the parser so far. */
  bytesRead = 0;
  readonly #req: UploadBody;
  readonly #body: AsyncIterator<Buffer>;
  readonly #parser: Busboy.Busboy;
  readonly #guard: HeaderGuard | null;
  readonly #queue: Part[] = [];
  #current: FilePart | null = null;
  #currentStream: Readable | null = null;
  #waiter: Waiter | null = null;
  #failure: unknown = null;
  #finished = false;
  #bodyDone = false;
  #parts = 0;
  #drain: (() => void) | null = null;
  /** return() was called while the application still reads a file part: nothing more is delivered. */
  #stopping = false;

  constructor(req: UploadBody, limits?: UploadLimits, options: { urlencoded?: boolean } = {}) {
    this.limits = resolveLimits(limits);
    this.#req = req;
    const type = req.header('content-type') ?? '';
    const mime = type.split(';', 1)[0]!.trim().toLowerCase();
    const urlencoded = mime === 'application/x-www-form-urlencoded';
    if (mime !== 'multipart/form-data' && !(urlencoded && options.urlencoded !== false)) {
      throw new HttpError(415, `expected a multipart/form-data${options.urlencoded === false ? '' : ' or application/x-www-form-urlencoded'} body, got ${type === '' ? 'no Content-Type' : JSON.stringify(type)}`);
    }
    const l = this.limits;
    try {
      this.#parser = busboy()({
        headers: { 'content-type': type },
        // Parts beyond limits.parts are counted here, not by busboy (it counts the closing delimiter too).
        limits: { fileSize: l.fileSize, files: l.files, fields: l.fields, fieldSize: l.fieldSize, fieldNameSize: l.fieldNameSize },
        defParamCharset: 'utf8',
        // One body chunk (the core reads up to 256 KiB at a time) fits in each buffer, so a part
        // consumer that keeps up never makes the parser wait on a half-full stream.
        highWaterMark: PARSER_HIGH_WATER_MARK,
        fileHwm: PARSER_HIGH_WATER_MARK,
      });
    } catch (err) {
      throw malformedError(/boundary/i.test((err as Error).message) ? 'multipart/form-data without a boundary parameter' : (err as Error).message, err);
    }
    const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    this.#guard = urlencoded || boundary === null ? null : new HeaderGuard(boundary[1] ?? boundary[2]!, l.headerSize);
    this.#body = req[Symbol.asyncIterator]();
    this.#listen();
    void this.#pump();
  }

  next(): Promise<IteratorResult<Part>> {
    const previous = this.#current;
    if (previous !== null && this.#queue.length === 0) previous.skipUnlessClaimed();
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#take(), done: false });
    if (this.#failure !== null) return this.#failure === STOPPED ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.#failure);
    if (this.#finished) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== null) return Promise.reject(new TypeError('multipart: next() called before the previous part arrived'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /**
   * The reader stopped (break, return): no more parts are delivered and the rest of the body is
   * dropped, but a file part the application took (say, returned as the response body) is
   * still read to its end first.
   */
  return(): Promise<IteratorResult<Part>> {
    const current = this.#current;
    const stream = this.#currentStream;
    if (current !== null && current.claimed && stream !== null && !stream.destroyed && !stream.readableEnded) {
      this.#stopping = true;
      this.#queue.length = 0;
      stream.once('close', () => this.#fail(STOPPED));
    } else {
      this.#fail(STOPPED);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #take(): Part {
    const part = this.#queue.shift()!;
    if (part.kind === 'file') this.#current = part;
    return part;
  }

  #deliver(part: Part): void {
    if (this.#stopping) {
      if (part.kind === 'file') part.skipUnlessClaimed();
      return;
    }
    if (++this.#parts > this.limits.parts) {
      this.#fail(limitError('parts', this.limits.parts, `more than ${this.limits.parts} parts`));
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      this.#queue.push(part);
      waiter.resolve({ value: this.#take(), done: false });
    } else {
      this.#queue.push(part);
    }
  }

  #listen(): void {
    const p = this.#parser;
    const l = this.limits;
    p.on('file', (name, stream, info) => {
      this.#currentStream = stream;
      // The reader's error reaches whoever reads the part; a part nobody took must not crash the process.
      stream.on('error', () => {});
      stream.once('limit', () => this.#fail(limitError('fileSize', l.fileSize, `file ${JSON.stringify(safeFilename(info.filename))} in field ${JSON.stringify(name)} is larger than ${l.fileSize} bytes`)));
      stream.once('end', () => {
        if (this.#currentStream === stream) this.#currentStream = null;
      });
      if (this.#stopping) this.#currentStream = null; // skipped below, never destroyed by the stop
      this.#deliver(new FilePart(name, safeFilename(info.filename), info.mimeType, info.encoding, stream));
    });
    p.on('field', (name, value, info) => {
      if (info.nameTruncated) return this.#fail(limitError('fieldNameSize', l.fieldNameSize, `a field name is longer than ${l.fieldNameSize} bytes`));
      if (info.valueTruncated) return this.#fail(limitError('fieldSize', l.fieldSize, `field ${JSON.stringify(name)} is longer than ${l.fieldSize} bytes`));
      this.#deliver({ kind: 'field', name, value, mimeType: info.mimeType });
    });
    p.on('filesLimit', () => this.#fail(limitError('files', l.files, `more than ${l.files} files`)));
    p.on('fieldsLimit', () => this.#fail(limitError('fields', l.fields, `more than ${l.fields} fields`)));
    p.on('error', (err: Error) => this.#fail(malformedError(describeParseError(err.message), err)));
    p.on('drain', () => this.#wake());
    p.on('close', () => {
      this.#wake();
      if (this.#failure !== null || p.errored) return;
      this.#finished = true;
      const waiter = this.#waiter;
      if (waiter !== null && this.#queue.length === 0) {
        this.#waiter = null;
        waiter.resolve({ value: undefined, done: true });
      }
    });
  }

  #wake(): void {
    const drain = this.#drain;
    this.#drain = null;
    drain?.();
  }

  async #pump(): Promise<void> {
    const p = this.#parser;
    try {
      for (;;) {
        const r = await this.#body.next();
        if (this.#failure !== null) return;
        if (r.done) break;
        const chunk = r.value;
        this.bytesRead += chunk.length;
        if (this.#guard !== null && !this.#guard.push(chunk)) {
          throw limitError('headerSize', this.limits.headerSize, `a part's header block is longer than ${this.limits.headerSize} bytes`);
        }
        if (!p.write(chunk)) {
          await new Promise<void>((resolve) => {
            this.#drain = resolve;
          });
          if (this.#failure !== null) return;
        }
      }
      this.#bodyDone = true;
      // Checked here, not left to busboy: it would destroy the file stream in progress with its own
      // error before telling us, and the handler would see that instead of this 400.
      if (this.#guard !== null && !this.#guard.ended) throw malformedError('the body ended before the closing boundary (truncated)');
      p.end();
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    if (this.#failure !== null || this.#finished) return;
    if (err instanceof HttpError && !this.#bodyDone) err = this.#closingIfLong(err);
    this.#failure = err;
    this.#queue.length = 0;
    const stream = this.#currentStream;
    this.#currentStream = null;
    if (stream !== null && !stream.destroyed && !stream.readableEnded) stream.destroy(err === STOPPED ? new CoreError('ESTOPPED', 'the multipart iteration was stopped before this part was read') : (err as Error));
    this.#parser.removeAllListeners('close');
    this.#parser.on('error', () => {}); // late parser errors after a failure are moot
    this.#parser.destroy();
    this.#wake();
    void this.#body.return?.();
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      if (err === STOPPED) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(err);
    }
  }

  /**
   * A rejected upload answers with Connection: close when much of the body is still to come
   * (unknown with chunked framing): the core would otherwise read and drop all of it to keep
   * the connection. A short rest is drained and the connection kept.
   */
  #closingIfLong(err: HttpError): HttpError {
    const declared = Number(this.#req.header('content-length') ?? NaN);
    const rest = Number.isFinite(declared) ? declared - this.bytesRead : Infinity;
    if (rest <= DRAIN_BUDGET) return err;
    const closing = new HttpError(err.status, err.message, { headers: { Connection: 'close' }, cause: err.cause });
    const limit = (err as HttpError & { limit?: string }).limit;
    if (limit !== undefined) (closing as HttpError & { limit?: string }).limit = limit;
    return closing;
  }
}

function describeParseError(message: string): string {
  if (/Unexpected end of (form|file)/.test(message)) return 'the body ended before the closing boundary (truncated)';
  if (/Malformed part header/.test(message)) return 'a part header is malformed';
  if (/Malformed urlencoded/i.test(message)) return 'malformed urlencoded data';
  return message;
}
