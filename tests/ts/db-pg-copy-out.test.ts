/**
 * CopyOut (ts/db/pg-copy-out.ts), the COPY TO STDOUT reader of pgCopyCsv / pgCopyNdjson, on a
 * fake pg connection: the server's bytes cut at every size (message headers and payloads split
 * across socket reads), messages PostgreSQL may put between CopyData, the hand-back to pg at
 * CopyDone and at an ErrorResponse (pg gets exactly the bytes after the COPY), and abort.
 * And on a pgSocket stand-in (every read lands in one reused buffer, scribbled before each
 * read): payloads lent (views, the consumer copies before its next pull) or copied, the socket
 * paused until the next pull, pg given copies of everything after the COPY.
 * The same reader against a real server: tests/ts/db-postgres.test.ts.
 */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { CopyOut } from '../../ts/db/pg-copy-out.js';
import { lendReads } from '../../ts/db/pg-socket.js';
import type { PullResult } from '../../ts/streaming/source.js';

function message(type: string, body: Buffer | string): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}

/** A socket in paused mode: read() hands out what was fed, one fed piece at a time. */
class FakeSocket extends EventEmitter {
  queue: Buffer[] = [];
  flowing: boolean | null = null;
  read(): Buffer | null {
    return this.queue.shift() ?? null;
  }
  pause(): this {
    this.flowing = false;
    return this;
  }
  resume(): this {
    this.flowing = true;
    // Flowing: what is queued goes to the data listeners.
    for (let b = this.queue.shift(); b !== undefined; b = this.queue.shift()) this.emit('data', b);
    return this;
  }
  feed(chunk: Buffer): void {
    if (this.flowing) this.emit('data', chunk);
    else {
      this.queue.push(Buffer.from(chunk)); // a fresh Buffer per read, as a socket gives
      this.emit('readable');
    }
  }
}

function fakeConnection() {
  const socket = new FakeSocket();
  const toPg: Buffer[] = [];
  socket.on('data', (b: Buffer) => toPg.push(Buffer.from(b)));
  const sent: string[] = [];
  return { connection: { stream: socket, query: (text: string) => sent.push(text) }, socket, toPg, sent };
}

/**
 * A pgSocket stand-in: each fed piece is read into ONE reused buffer (scribbled first, as a
 * later read would) and given to lendReads' entry point; false pauses it until resume(), which
 * reads what is queued at once (a real socket reads later: both orders must work).
 */
class LendingSocket extends EventEmitter {
  private readonly buffer = Buffer.alloc(256 * 1024);
  private readonly queue: Buffer[] = [];
  private readonly deliver: (view: Buffer) => boolean;
  paused = false;
  reads = 0;
  constructor() {
    super();
    this.deliver = lendReads(this, (copy) => this.emit('data', copy));
  }
  read(): Buffer | null {
    throw new Error('a lending socket is never read in paused mode');
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    this.flow();
    return this;
  }
  feed(chunk: Buffer): void {
    this.queue.push(Buffer.from(chunk));
    this.flow();
  }
  private flow(): void {
    while (!this.paused && this.queue.length > 0) {
      const piece = this.queue.shift()!;
      this.buffer.fill(0xee);
      piece.copy(this.buffer);
      this.reads++;
      if (this.deliver(this.buffer.subarray(0, piece.length)) === false) this.paused = true;
    }
  }
}

function lendingConnection() {
  const socket = new LendingSocket();
  const toPg: Buffer[] = [];
  socket.on('data', (b: Buffer) => toPg.push(b));
  const sent: string[] = [];
  return { connection: { stream: socket, query: (text: string) => sent.push(text) }, socket, toPg, sent };
}

/** `keep`: the values are kept as they are (not copied) until the end. */
async function drain(copy: CopyOut, keep = false): Promise<{ out: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for (;;) {
      const r: PullResult = await copy.pull();
      if (r.done) break;
      parts.push(keep ? (r.value as Buffer) : Buffer.from(r.value as Buffer));
    }
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
  return { out: Buffer.concat(parts), error: null };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Two rows, then an ErrorResponse and ReadyForQuery, fed `size` bytes at a time: the rows are
 * handed on, pg gets exactly the error's bytes (its header may be cut across reads), and once pg
 * reports the error the next pull throws it.
 */
async function rowsThenError(c: { connection: unknown; socket: { feed(chunk: Buffer): void }; toPg: Buffer[] }, copy: CopyOut, size: number): Promise<void> {
  copy.submit(c.connection as never);
  const error = Buffer.concat([message('E', 'SERROR\0C22012\0Mdivision by zero\0\0'), message('Z', 'E')]);
  const bytes = Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', '1,10\n'), message('d', '2,5\n'), error]);
  const done = drain(copy);
  for (let i = 0; i < bytes.length; i += size) c.socket.feed(bytes.subarray(i, i + size));
  for (let i = 0; i < 4; i++) await tick(); // a socket given back is resumed on the next tick
  expect(Buffer.concat(c.toPg).equals(error), `fed ${size} at a time`).to.equal(true);
  const failure = new Error('division by zero');
  copy.handleError(failure);
  copy.handleReadyForQuery();
  const { out, error: thrown } = await done;
  expect(out.toString()).to.equal('1,10\n2,5\n');
  expect(thrown).to.equal(failure);
  expect(copy.settled).to.equal(true);
}

/**
 * A COPY as PostgreSQL sends it: CopyOutResponse, five rows (one empty, one of 70 KB) with a
 * ParameterStatus, a NoticeResponse and a NotificationResponse between them, CopyDone; then
 * what pg must get (CommandComplete, ReadyForQuery).
 */
const rows = ['id,name\n', '1,a\n', '', '2,"b, with ""quotes"""\n', 'x'.repeat(70_000) + '\n', '3,c\n'];
const payload = Buffer.from(rows.join(''));
const copyStream = Buffer.concat([
  message('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
  message('d', rows[0]!),
  message('S', 'TimeZone\0UTC\0'),
  message('d', rows[1]!),
  message('d', rows[2]!),
  message('N', 'SNOTICE\0Mhello\0\0'),
  message('d', rows[3]!),
  message('A', Buffer.from([0, 0, 0, 1, 99, 0, 0])),
  message('d', rows[4]!),
  message('d', rows[5]!),
  message('c', ''),
]);
const after = Buffer.concat([message('C', 'COPY 5\0'), message('Z', 'T')]);
const wire = Buffer.concat([copyStream, after]);

/** What pg does with the bytes after CopyDone (CommandComplete, then ReadyForQuery); the whole payload has then arrived. */
async function endsWithPayload(copy: CopyOut, done: Promise<{ out: Buffer; error: unknown }>): Promise<void> {
  copy.handleCommandComplete({ text: 'COPY 5' });
  copy.handleReadyForQuery();
  const { out, error } = await done;
  expect(error).to.equal(null);
  expect(out.equals(payload), `${out.length} vs ${payload.length} bytes`).to.equal(true);
  expect(copy.rowCount).to.equal(5);
  expect(copy.bytes).to.equal(payload.length);
  expect(copy.settled).to.equal(true);
}

describe('db: CopyOut, the COPY TO STDOUT reader (fake connection)', () => {
  for (const size of [1, 2, 3, 4, 5, 6, 7, 9, 13, 64, 1000, 65_536, wire.length]) {
    it(`reads ${wire.length} bytes fed ${size} at a time: the payloads in order, pg gets exactly what follows CopyDone`, async () => {
      const { connection, socket, toPg, sent } = fakeConnection();
      const copy = new CopyOut('COPY x TO STDOUT');
      expect(copy.submit(connection as never)).to.equal(undefined);
      expect(sent).to.deep.equal(['COPY x TO STDOUT']);
      expect(socket.listenerCount('data')).to.equal(0);
      const done = drain(copy);
      for (let i = 0; i < wire.length; i += size) {
        socket.feed(wire.subarray(i, i + size));
        if (i % (size * 64) === 0) await tick();
      }
      await tick();
      await tick(); // the socket is resumed on the next tick
      // pg's listener is back and has the bytes after the COPY (nothing of it, nothing lost).
      expect(socket.listenerCount('data')).to.equal(1);
      expect(socket.listenerCount('readable')).to.equal(0);
      expect(Buffer.concat(toPg).equals(after)).to.equal(true);
      await endsWithPayload(copy, done);
    });
  }

  it('payloads are moved in place: one socket read gives one Buffer on the same memory', async () => {
    const { connection, socket } = fakeConnection();
    const copy = new CopyOut('COPY x TO STDOUT');
    copy.submit(connection as never);
    const read = Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', 'a,b\n'), message('d', 'c,d\n')]);
    socket.queue.push(read);
    const r = (await copy.pull()) as IteratorYieldResult<Buffer>;
    expect(r.value.toString()).to.equal('a,b\nc,d\n');
    expect(r.value.buffer).to.equal(read.buffer);
    expect(r.value.byteOffset).to.equal(read.byteOffset);
  });

  it('an ErrorResponse: the rows before it are handed on, pg parses the error, the next pull throws it', async () => {
    for (const size of [1, 3, 5, 1000]) await rowsThenError(fakeConnection(), new CopyOut('COPY x TO STDOUT'), size);
  });

  it('a connection error while the socket is ours gives it back to pg and fails the pull', async () => {
    const { connection, socket } = fakeConnection();
    const copy = new CopyOut('COPY x TO STDOUT');
    copy.submit(connection as never);
    const pending = copy.pull();
    const failure = new Error('Connection terminated unexpectedly');
    copy.handleError(failure);
    let thrown: unknown = null;
    try {
      await pending;
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.equal(failure);
    expect(socket.listenerCount('data')).to.equal(1);
    expect(socket.listenerCount('readable')).to.equal(0);
  });

  it('a second statement in the text (not a COPY) fails the export', async () => {
    const { connection, socket } = fakeConnection();
    const copy = new CopyOut('COPY x TO STDOUT');
    copy.submit(connection as never);
    socket.feed(Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', '1\n'), message('c', ''), message('C', 'COPY 1\0')]));
    const first = (await copy.pull()) as IteratorYieldResult<Buffer>;
    expect(first.value.toString()).to.equal('1\n');
    copy.handleCommandComplete({ text: 'COPY 1' });
    copy.handleRowDescription(); // what pg calls for a SELECT after it
    let thrown: unknown = null;
    try {
      await copy.pull();
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).to.include('not COPY');
  });

  it('abort: what still arrives is dropped (never handed to pg), the socket flows to its end', async () => {
    const { connection, socket, toPg } = fakeConnection();
    const copy = new CopyOut('COPY x TO STDOUT');
    copy.submit(connection as never);
    socket.feed(Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', '1\n')]));
    expect(((await copy.pull()) as IteratorYieldResult<Buffer>).value.toString()).to.equal('1\n');
    copy.abort();
    socket.feed(message('d', '2\n'));
    expect(socket.flowing).to.equal(true);
    expect(toPg).to.have.length(0);
    expect(socket.listenerCount('readable')).to.equal(0);
    expect(await copy.pull()).to.deep.include({ done: true });
    // Queued behind another query and cancelled before its turn: pg is told it failed to start.
    const queued = new CopyOut('COPY y TO STDOUT');
    queued.abort();
    const second = fakeConnection();
    expect(String(queued.submit(second.connection as never))).to.include('cancelled');
    expect(second.sent).to.have.length(0);
  });
});

describe('db: CopyOut on a pgSocket (reads into one reused buffer)', () => {
  for (const lend of [true, false]) {
    for (const size of [1, 2, 4, 5, 6, 11, 100, 8192, 65_536, wire.length]) {
      it(`${lend ? 'lent views' : 'copies'}, fed ${size} at a time: payloads in order, the socket paused per payload, pg gets copies of what follows`, async () => {
        const { connection, socket, toPg, sent } = lendingConnection();
        const copy = new CopyOut('COPY x TO STDOUT', lend);
        expect(copy.submit(connection as never)).to.equal(undefined);
        expect(sent).to.deep.equal(['COPY x TO STDOUT']);
        // pg's listener stays: the reads simply do not reach it while the COPY runs.
        expect(socket.listenerCount('data')).to.equal(1);
        const done = drain(copy, !lend); // copies must survive every later read as they are
        for (let i = 0; i < wire.length; i += size) {
          socket.feed(wire.subarray(i, i + size));
          if (i % (size * 64) === 0) await tick();
        }
        for (let i = 0; i < 4; i++) await tick();
        expect(Buffer.concat(toPg).equals(after), `pg got ${Buffer.concat(toPg).length} bytes`).to.equal(true);
        await endsWithPayload(copy, done);
        expect(socket.paused).to.equal(false);
      });
    }
  }

  it('a lent payload is a view of the read buffer; the next read waits for the next pull', async () => {
    const { connection, socket } = lendingConnection();
    const copy = new CopyOut('COPY x TO STDOUT', true);
    copy.submit(connection as never);
    socket.feed(Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', 'a,b\n')]));
    socket.feed(message('d', 'c,d\n'));
    expect(socket.reads).to.equal(1);
    expect(socket.paused).to.equal(true);
    const first = (await copy.pull()) as IteratorYieldResult<Buffer>;
    expect(first.value.toString()).to.equal('a,b\n');
    expect(socket.reads).to.equal(1);
    const second = (await copy.pull()) as IteratorYieldResult<Buffer>;
    expect(socket.reads).to.equal(2);
    expect(second.value.toString()).to.equal('c,d\n');
    expect(second.value.buffer).to.equal(first.value.buffer); // the same memory, read again
  });

  it('an ErrorResponse with its header cut across reads: the rows first, pg parses the whole error', async () => {
    for (const size of [1, 2, 3, 4, 6, 7, 1000]) await rowsThenError(lendingConnection(), new CopyOut('COPY x TO STDOUT', true), size);
  });

  it('abort with a payload not yet pulled: the socket reads on, what arrives is dropped, never handed to pg', async () => {
    const { connection, socket, toPg } = lendingConnection();
    const copy = new CopyOut('COPY x TO STDOUT', true);
    copy.submit(connection as never);
    socket.feed(Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', '1\n')]));
    expect(socket.paused).to.equal(true);
    copy.abort();
    expect(socket.paused).to.equal(false);
    socket.feed(message('d', '2\n'));
    socket.feed(message('c', ''));
    expect(toPg).to.have.length(0);
    expect(await copy.pull()).to.deep.include({ done: true });
  });
});
