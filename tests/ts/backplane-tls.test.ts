/**
 * The Redis backplane over TLS (`rediss://` and the `tls` option), against real redis-servers
 * listening with TLS (certificates of a throwaway CA made with the openssl CLI), one without and
 * one with client certificates. Events cross two apps through it, on connections Redis sees on its
 * TLS port (CLIENT LIST laddr); a server certificate of another CA, a missing client certificate
 * and Node's default CAs refusing a private one are a rejected listen() naming the URL, never a
 * hang; option mistakes are TypeErrors.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, BackplaneError, Channel, redisBackplane, type RedisTlsOptions } from '../../ts/index.js';
import { subscribeToChannel } from '../helpers/backplane-child.js';
import { redisCommand, startRedis, type RedisServer } from '../helpers/redis.js';
import { makeTlsFiles, type TlsFiles } from '../helpers/tls-files.js';
import { startApp, type AppContext } from '../helpers/with-app.js';

describe('backplane: Redis over TLS (rediss://, option tls)', function () {
  this.timeout(30_000);
  let dir = '';
  let files!: TlsFiles;
  let redis!: RedisServer;
  let mutual!: RedisServer;
  const cleanup: Array<() => unknown> = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-tls-'));
    files = makeTlsFiles(dir);
    redis = await startRedis({ tls: { files, authClients: false } });
    mutual = await startRedis({ tls: { files, authClients: true } });
  });
  after(async () => {
    await redis?.destroy();
    await mutual?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  const read = (file: string) => fs.readFileSync(file);

  async function node(url: string, tls: RedisTlsOptions): Promise<{ ctx: AppContext; channel: Channel }> {
    let channel!: Channel;
    const ctx = await startApp((app: App) => {
      const bp = redisBackplane({ url, app, tls, publishTimeout: 3000 });
      channel = new Channel({ name: 'tls', backplane: bp, replay: 100, sse: { heartbeat: 0 } });
      app.get('/events', (req) => channel.subscribe(req));
    });
    cleanup.push(() => ctx.close());
    return { ctx, channel };
  }

  /** How many clients Redis has on its TLS port (CLIENT LIST's laddr), asked on the plain one. */
  async function clientsOnTlsPort(server: RedisServer): Promise<number> {
    const list = await redisCommand(server.port, 'CLIENT LIST');
    return list.split('\n').filter((line) => line.includes(`laddr=127.0.0.1:${server.tlsPort} `)).length;
  }

  async function listenError(url: string, tls: RedisTlsOptions | undefined): Promise<unknown> {
    const app = new App({ logger: { error: () => {} } });
    const bp = redisBackplane({ url, app, tls, connectTimeout: 3000 });
    new Channel({ name: 'x', backplane: bp });
    const started = Date.now();
    const err = await app.listen({ port: 0, host: '127.0.0.1' }).then(() => null, (e: unknown) => e);
    await app.close();
    expect(Date.now() - started, 'rejected without waiting out a timeout').to.be.below(3000);
    return err;
  }

  for (const kind of ['server certificate only', 'client certificates too'] as const) {
    it(`${kind}: events cross two apps through Redis's TLS port, each once, in order`, async () => {
      const server = kind === 'server certificate only' ? redis : mutual;
      const tls: RedisTlsOptions = kind === 'server certificate only' ? { ca: read(files.ca) } : { ca: read(files.ca), cert: read(files.clientCert), key: read(files.clientKey) };
      const a = await node(server.tlsUrl!, tls);
      const b = await node(server.tlsUrl!, tls);
      const sa = await subscribeToChannel(a.ctx.base, a.channel, cleanup);
      const sb = await subscribeToChannel(b.ctx.base, b.channel, cleanup);
      const ids: string[] = [];
      for (let i = 1; i <= 4; i++) ids.push(await (i % 2 ? a : b).channel.publish(`m${i}`));
      for (const s of [sa, sb]) expect((await s.waitEvents(4)).map((e) => [e.id, e.data])).to.deep.equal(ids.map((id, i) => [id, `m${i + 1}`]));
      // two apps, a command and a reader connection each: all four on the TLS port
      expect(await clientsOnTlsPort(server)).to.equal(4);
    });
  }

  it('a server certificate of another CA, or a private CA with Node\'s default ones: listen() rejects with EBACKPLANE naming the URL', async () => {
    for (const tls of [{ ca: read(files.otherCa) }, undefined]) {
      const err = await listenError(redis.tlsUrl!, tls);
      expect(err, tls === undefined ? 'default CAs' : 'another CA').to.be.instanceOf(BackplaneError);
      expect((err as Error).message).to.include(redis.tlsUrl!).and.to.match(/certificate/i);
    }
    expect(await clientsOnTlsPort(redis)).to.equal(0);
  });

  it('Redis asks for a client certificate and none is given: listen() rejects with EBACKPLANE naming the URL, 5 times, no uncaught error', async () => {
    // The server's alert comes after the TLS 1.3 handshake, then a reset: two 'error' events on one
    // socket, which must not become an uncaught exception (the backplane probes with its own first).
    for (let i = 0; i < 5; i++) {
      const err = await listenError(mutual.tlsUrl!, { ca: read(files.ca) });
      expect(err).to.be.instanceOf(BackplaneError);
      expect((err as Error).message).to.include(mutual.tlsUrl!).and.to.match(/certificate required/);
    }
  });

  it('option mistakes are TypeErrors: tls with a redis:// URL, an option that turns verification off, not an object', () => {
    expect(() => redisBackplane({ url: redis.url, tls: { ca: read(files.ca) } })).to.throw(TypeError, /rediss:\/\//);
    expect(() => redisBackplane({ url: redis.tlsUrl!, tls: { rejectUnauthorized: false } as never })).to.throw(TypeError, /rejectUnauthorized.*not supported/);
    expect(() => redisBackplane({ url: redis.tlsUrl!, tls: 'yes' as never })).to.throw(TypeError, /tls must be an object/);
  });
});
