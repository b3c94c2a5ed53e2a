/**
 * `redisBackplane()`: channels and rooms shared by every process that uses the same Redis.
 *
 *   const backplane = redisBackplane({ url: 'redis://127.0.0.1:6379', app });
 *   const news = new Channel({ name: 'news', backplane });
 *
 * Each channel or room is a Redis Stream (`<prefix>:sse:<name>`, `<prefix>:room:<name>`).
 * A publish is `XADD key MAXLEN ~ <window> 0-* ...` (in a script, PUBLISH below): Redis gives
 * the entry the next id of that key, so ids are consecutive and one order holds for every
 * process; a new stream starts at Redis's clock in microseconds (0-1764720000000000, 0-...01,
 * ...), above every id of an earlier stream of the same key.
 * Nobody is fed by the publish itself: each process delivers only what its one reader reads
 * (`XREAD BLOCK` over the keys with local subscribers, on a connection of its own, see
 * reader.ts), the publisher's process included.
 *
 * With `streamTtl` (default a day) the publish script sets the key's expiry too, and each reader
 * refreshes the expiry of the keys it follows, so a stream leaves Redis once nobody published to
 * it or followed it for that long.
 *
 * Two connections per backplane (node-redis 5): commands, and the blocking reader. Neither
 * keeps an offline queue: a publish made while Redis is away waits for it to come back for at
 * most `publishTimeout` ms and then rejects with EBACKPLANE; it is never sent later behind the
 * caller's back. With `app`, the backplane connects when `app.listen()` runs (an unreachable
 * Redis, or one older than 7, makes listen() reject with an error naming the URL) and closes at
 * `app.close()`; without it, it connects at first use.
 */
import { forgetBackplane, observeBackplane } from './registry.js';
import type * as Crypto from 'node:crypto';
import type * as Tls from 'node:tls';
import type { App } from '../app.js';
import { lazy } from '../lazy.js';
import { lastSeqOf, settleWithin, type RedisClientLike as Client } from './commands.js';
import { StreamReader, type ReaderOwner } from './reader.js';
import { BackplaneError, streamId, type Backplane, type BackplaneStats, type StreamEntry, type StreamListener } from './types.js';

export interface RedisBackplaneOptions {
  /** `redis://[user:password@]host[:port][/db]` (default redis://127.0.0.1:6379). */
  url?: string;
  /** Connect in app.onListen (listen() rejects when Redis cannot be used), close in app.onClose. */
  app?: App;
  /** Key prefix (default "catzilla"). */
  prefix?: string;
  /** ms a publish may wait for Redis (reconnecting, slow) before it rejects with EBACKPLANE (default 5000). */
  publishTimeout?: number;
  /** ms to wait for the first connection (default 5000). */
  connectTimeout?: number;
  /** Longest pause between reconnection attempts, ms (default 2000; attempts start at 50 ms and double). */
  maxReconnectDelay?: number;
  /** XREAD BLOCK timeout, ms (default 5000; a newly followed key interrupts it with CLIENT UNBLOCK). */
  blockMs?: number;
  /** XREAD COUNT: entries per key per read (default 1000). */
  readCount?: number;
  /**
   * ms a channel's or room's stream outlives its last publish and its last follower (default
   * 86_400_000, a day; 0: streams never expire). Each publish sets the key's expiry in the same
   * atomic command as its XADD, and every process's reader refreshes it for the keys it follows
   * (every streamTtl / 3), so a stream goes away only once nobody publishes to it and no process
   * follows it for that long. Use the same value in every process.
   */
  streamTtl?: number;
  /**
   * TLS settings for a `rediss://` URL (Node's tls.connect options: `ca` for a private CA,
   * `cert` + `key` when Redis asks for client certificates, `servername`...). Without them a
   * `rediss://` URL trusts Node's default CAs; certificates are always verified.
   */
  tls?: RedisTlsOptions;
}

/** What the backplane passes to tls.connect for a `rediss://` URL. */
export type RedisTlsOptions = Pick<Tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'pfx' | 'servername' | 'minVersion' | 'ciphers'>;

const TLS_KEYS: ReadonlyArray<keyof RedisTlsOptions> = ['ca', 'cert', 'key', 'passphrase', 'pfx', 'servername', 'minVersion', 'ciphers'];

/**
 * A publish: one script, so it is one command (the same round trip, and node-redis's timeout
 * and offline rules as for a bare XADD). An existing stream gets the next id (`0-*`: consecutive);
 * a stream that does not exist (never created, expired, deleted, Redis restarted without its
 * data) starts at Redis's clock in microseconds (`0-<TIME>`), above every id an earlier stream of
 * that key gave as long as it averaged under one publish per microsecond: an id a client kept
 * from an earlier stream never names an event of the new one; that first entry carries `s 1`
 * (`continues` in types.ts), so a reader that meets a stream from nothing can tell its start from a
 * trimmed hole. With a TTL (ARGV[2] > 0) PEXPIRE
 * runs in the same script: both happen or neither, so a key is never left without its expiry.
 */
const PUBLISH = [
  "local id",
  "if redis.call('EXISTS', KEYS[1]) == 1 then id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-*', unpack(ARGV, 3))",
  "else local t = redis.call('TIME') id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. t[1] .. string.sub('00000' .. t[2], -6), 's', '1', unpack(ARGV, 3)) end",
  "if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end",
  "return id",
].join(' ');


type RedisModule = { createClient(options: Record<string, unknown>): Client; RESP_TYPES: { BLOB_STRING: number } };

const crypto = lazy<typeof Crypto>('node:crypto');
const tlsModule = lazy<typeof Tls>('node:tls');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RedisBackplane implements Backplane, ReaderOwner {
  readonly prefix: string;
  readonly instanceId = crypto().randomBytes(8).toString('hex');
  readonly url: string;
  private readonly publishTimeout: number;
  private readonly connectTimeout: number;
  private readonly maxReconnectDelay: number;
  /** A `rediss://` URL: TLS, with these options (null: Node's defaults); else null. */
  private readonly tls: RedisTlsOptions | null;
  private readonly secure: boolean;
  /** ms a stream outlives its last publish and follower (0: forever). */
  readonly streamTtl: number;
  private commands: Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  /** Set once the first connection worked: from then on a lost connection is retried. */
  private everReady = false;
  /** @internal */
  readonly reader: StreamReader;
  /** @internal Buffers for bulk strings (entries may be binary). */
  bufferReplies: Record<number, unknown> = {};
  /** @internal */
  readonly counters = { published: 0, publishErrors: 0, delivered: 0, reconnects: 0, lagMs: 0, lagMaxMs: 0, streamResets: 0 };
  /** @internal */
  lastError: string | null = null;

  constructor(options: RedisBackplaneOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('redisBackplane() options must be an object');
    this.url = options.url ?? 'redis://127.0.0.1:6379';
    if (typeof this.url !== 'string' || !/^rediss?:\/\//.test(this.url)) throw new TypeError(`redisBackplane() url must be a redis:// or rediss:// URL, got ${String(options.url)}`);
    this.prefix = options.prefix ?? 'catzilla';
    if (typeof this.prefix !== 'string' || this.prefix === '') throw new TypeError('redisBackplane() prefix must be a non-empty string');
    this.publishTimeout = ms(options.publishTimeout, 5000, 'publishTimeout');
    this.connectTimeout = ms(options.connectTimeout, 5000, 'connectTimeout');
    this.maxReconnectDelay = ms(options.maxReconnectDelay, 2000, 'maxReconnectDelay');
    this.streamTtl = ms(options.streamTtl, 86_400_000, 'streamTtl');
    this.secure = this.url.startsWith('rediss://');
    this.tls = tlsOptions(options.tls, this.secure, this.safeUrl);
    if (this.streamTtl !== 0 && this.streamTtl < 100) throw new TypeError(`redisBackplane() option streamTtl must be 0 (never expire) or at least 100 ms, got ${this.streamTtl}`);
    this.reader = new StreamReader(this, ms(options.blockMs, 5000, 'blockMs'), Math.max(1, ms(options.readCount, 1000, 'readCount')), this.streamTtl);
    if (options.app !== undefined) {
      options.app.onListen(() => this.connect());
      options.app.onClose(() => this.close());
    }
  }

  /** What the metrics call this backplane (`backplane` label): the URL without its password, and the prefix. */
  get label(): string {
    return `${this.safeUrl} ${this.prefix}`;
  }

  /** A URL safe to print (no password). */
  get safeUrl(): string {
    return this.url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? auth.slice(0, auth.indexOf(':')) + ':***' : auth}@`);
  }

  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new BackplaneError(`the backplane (${this.safeUrl}) is closed`));
    observeBackplane(this);
    this.connecting ??= this.open().catch((err: unknown) => {
      this.connecting = null;
      throw err;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const redis = (await import('redis')) as unknown as RedisModule;
    this.bufferReplies = { [redis.RESP_TYPES.BLOB_STRING]: Buffer };
    const client = redis.createClient({
      url: this.url,
      disableOfflineQueue: true, // a command is sent now or never: no publish leaves after its promise failed
      socket: {
        ...(this.secure ? { tls: true, ...this.tls } : {}),
        connectTimeout: this.connectTimeout,
        reconnectStrategy: (retries: number, cause: Error) => {
          if (this.closed) return false;
          if (!this.everReady) return new BackplaneError(`cannot connect to Redis at ${this.safeUrl}: ${cause.message}`, { cause });
          return Math.min(50 * 2 ** Math.min(retries, 10), this.maxReconnectDelay);
        },
      },
    });
    this.listenTo(client);
    this.template = client;
    const reader = this.readerClient();
    try {
      if (this.secure) await this.probeTls();
      await client.connect();
      const info = await client.sendCommand<string>(['INFO', 'server']);
      const version = /redis_version:(\d+)\.(\d+)\.(\d+)/.exec(String(info));
      if (version === null || Number(version[1]) < 7) {
        throw new BackplaneError(`Redis at ${this.safeUrl} is ${version === null ? 'of an unknown version' : version.slice(1).join('.')}; the backplane needs Redis 7 or newer (XADD with <ms>-* ids)`);
      }
      await reader.connect();
    } catch (err) {
      for (const c of [client, reader]) if (c.isOpen) c.destroy();
      if (err instanceof BackplaneError) throw err;
      const original = (err as { originalError?: unknown } | null)?.originalError; // node-redis's ReconnectStrategyError wraps ours
      if (original instanceof BackplaneError) throw original;
      throw new BackplaneError(`cannot connect to Redis at ${this.safeUrl}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    if (this.closed) {
      client.destroy();
      reader.destroy();
      throw new BackplaneError(`the backplane (${this.safeUrl}) was closed while connecting`);
    }
    this.everReady = true;
    this.lastError = null;
    this.commands = client;
    this.reader.start(reader);
  }

  private template: Client | null = null;

  /**
   * A first TLS connection of our own, PING and close, before node-redis connects: a server
   * that refuses the connection after the handshake (TLS 1.3: a client certificate it asked for
   * and did not get) sends an alert, then resets, and the TLS socket reports both as 'error'
   * events; node-redis listens for its sockets' first one only, so the second would be an
   * uncaught exception. Here both are ours, and listen() rejects with what Redis said.
   */
  private probeTls(): Promise<void> {
    const url = new URL(this.url);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? 6379 : Number(url.port);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const socket = tlsModule().connect({ host, port, ...this.tls });
      const done = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err === null) resolve();
        else reject(new BackplaneError(`cannot connect to Redis at ${this.safeUrl} over TLS: ${err.message}`, { cause: err }));
      };
      const timer = setTimeout(() => done(new Error(`no TLS answer within connectTimeout (${this.connectTimeout} ms)`)), this.connectTimeout);
      socket.on('error', (err: Error) => done(err)); // on, not once: a refused connection reports twice
      socket.once('secureConnect', () => socket.write('PING\r\n'));
      // Any RESP reply (+PONG, or -NOAUTH when a password is needed) means TLS works.
      socket.once('data', (chunk: Buffer) => done(chunk[0] === 0x2b || chunk[0] === 0x2d ? null : new Error('an answer that is not RESP')));
      socket.once('end', () => done(new Error('the server closed the connection')));
    });
  }

  private listenTo(c: Client): void {
    c.on('error', (err: Error) => (this.lastError = err.message)); // an 'error' without a listener would throw
    let ready = false;
    c.on('ready', () => {
      if (ready) this.counters.reconnects++; // connected again after a loss (not each attempt)
      ready = true;
    });
  }

  /** @internal A new (not yet connected) connection for the stream reader. */
  readerClient(): Client {
    const c = this.template!.duplicate();
    this.listenTo(c);
    return c;
  }

  /** @internal The command connection, connecting at first use. */
  async client(): Promise<Client> {
    if (this.commands === null) await this.connect();
    return this.commands!;
  }

  async append(key: string, fields: Array<string | Buffer>, maxLen: number): Promise<string> {
    const deadline = Date.now() + this.publishTimeout;
    try {
      const client = await this.client();
      const window = String(Math.max(1, maxLen));
      const args = ['EVAL', PUBLISH, '1', key, window, String(this.streamTtl), 't', String(Date.now()), ...fields];
      for (;;) {
        if (this.closed) throw new BackplaneError(`the backplane (${this.safeUrl}) is closed`);
        await this.whenReady(client, deadline);
        const left = Math.max(1, deadline - Date.now());
        try {
          // node-redis's timeout covers the command until it is written (then it was never sent);
          // once written, only our own timer bounds the wait for the answer.
          const id = await settleWithin(client.sendCommand<string>(args, { timeout: left }), left + 20, () =>
            new BackplaneError(`no answer from Redis at ${this.safeUrl} within publishTimeout (${this.publishTimeout} ms) after the publish to ${key} was sent: it may or may not have been stored`, { indeterminate: true }),
          );
          this.counters.published++;
          return String(id);
        } catch (err) {
          if (err instanceof BackplaneError) throw err;
          const name = (err as object | null)?.constructor?.name ?? ''; // node-redis's error classes leave `name` as 'Error'
          // Not sent (the connection was down when we tried): waiting and sending again is safe.
          if (name === 'ClientOfflineError' && Date.now() < deadline) continue;
          if (name === 'TimeoutError') {
            throw new BackplaneError(`Redis at ${this.safeUrl} did not take the publish to ${key} within publishTimeout (${this.publishTimeout} ms); it was not sent`, { cause: err });
          }
          if (name === 'ErrorReply' || name === 'SimpleError' || name === 'BlobError') {
            throw new BackplaneError(`Redis refused the publish to ${key}: ${(err as Error).message}`, { cause: err });
          }
          throw new BackplaneError(
            `the connection to Redis at ${this.safeUrl} was lost or timed out after the publish to ${key} was sent: it may or may not have been stored (${(err as Error)?.message ?? String(err)})`,
            { cause: err, indeterminate: name !== 'ClientOfflineError' },
          );
        }
      }
    } catch (err) {
      this.counters.publishErrors++;
      throw err;
    }
  }

  /** Waits (polling, bounded by `deadline`) until `client` is connected. */
  private async whenReady(client: Client, deadline: number): Promise<void> {
    while (!client.isReady) {
      if (this.closed) throw new BackplaneError(`the backplane (${this.safeUrl}) is closed`);
      if (Date.now() >= deadline) {
        throw new BackplaneError(`Redis at ${this.safeUrl} is unreachable: nothing was published within publishTimeout (${this.publishTimeout} ms)${this.lastError === null ? '' : `; last error: ${this.lastError}`}`);
      }
      await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    }
  }

  watch(key: string, listener: StreamListener, ended?: () => void): Promise<number> {
    return this.connect().then(() => this.reader.follow(key, listener, ended));
  }

  unwatch(key: string, listener: StreamListener): void {
    this.reader.unfollow(key, listener);
  }

  async range(key: string, after: number, upTo: number): Promise<StreamEntry[]> {
    if (upTo <= after) return [];
    const client = await this.client();
    const reply = await settleWithin(
      client.sendCommand<Array<[Buffer, Buffer[]]>>(['XRANGE', key, `(${streamId(after)}`, streamId(upTo)], { typeMapping: this.bufferReplies, timeout: this.publishTimeout }),
      this.publishTimeout + 20,
      () => new BackplaneError(`no answer from Redis at ${this.safeUrl} within ${this.publishTimeout} ms (XRANGE ${key})`),
    );
    return (reply ?? []).map(([id, fields]) => ({ seq: Number(id.toString('latin1').slice(2)), fields }));
  }

  async lastSeq(key: string): Promise<number> {
    const client = await this.client();
    return settleWithin(lastSeqOf(client, key, this.publishTimeout), this.publishTimeout + 20, () => new BackplaneError(`no answer from Redis at ${this.safeUrl} within ${this.publishTimeout} ms (XREVRANGE ${key})`));
  }

  stats(): BackplaneStats {
    const c = this.counters;
    return {
      connected: this.commands?.isReady === true && this.reader.connected,
      published: c.published,
      publishErrors: c.publishErrors,
      delivered: c.delivered,
      reconnects: c.reconnects,
      streamResets: c.streamResets,
      keys: this.reader.keyCount,
      readerLagMs: c.lagMs,
      readerLagMaxMs: c.lagMaxMs,
      lastError: this.lastError,
    };
  }

  /** Stops the reader and closes both connections. Channels and rooms on it stop receiving. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    forgetBackplane(this);
    await this.connecting?.catch(() => {});
    await this.reader.stop();
    const client = this.commands;
    this.commands = null;
    if (client?.isOpen) client.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}



function tlsOptions(value: RedisTlsOptions | undefined, secure: boolean, safeUrl: string): RedisTlsOptions | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) throw new TypeError('redisBackplane() option tls must be an object of tls.connect options');
  if (!secure) throw new TypeError(`redisBackplane() option tls needs a rediss:// URL, got ${safeUrl}`);
  for (const key of Object.keys(value)) {
    if (!(TLS_KEYS as readonly string[]).includes(key)) throw new TypeError(`redisBackplane() option tls.${key} is not supported (use ${TLS_KEYS.join(', ')}); certificates are always verified`);
  }
  return { ...value };
}

function ms(value: number | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`redisBackplane() option ${name} must be a non-negative integer (ms), got ${String(value)}`);
  return value;
}

/** A backplane over Redis (node-redis 5); see RedisBackplane. */
export function redisBackplane(options: RedisBackplaneOptions = {}): RedisBackplane {
  return new RedisBackplane(options);
}

