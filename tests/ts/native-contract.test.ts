/**
 * One contract across C, C++ and TypeScript: catzilla.h's X-macro lists are exported by the addon
 * (`constants`) and ts/native.ts reads them. This fails when any side disagrees: a field or name
 * TypeScript's types know that the core does not export, or the other way round.
 */
import { expect } from 'chai';
import { App } from '../../ts/index.js';
import {
  AbortReason, ListenFlags, METHODS, RequestFlags, RespondFlags, STREAM_STATS_FIELDS, StreamFlags, StreamState, constants, native, streamStatsFrom,
  type NativeServerOptions, type NativeServerStats, type NativeStreamStats, type NativeWsOptions,
} from '../../ts/native.js';
import { FLOW_DEFAULTS } from '../../ts/streaming/options.js';
import { emptyServerStats } from '../../ts/streaming/stats.js';
import { withApp } from '../helpers/with-app.js';
import { RawClient } from '../helpers/raw-client.js';

// What TypeScript's types say (the compiler checks these literals against the interfaces).
const STREAM_STATS: Record<keyof NativeStreamStats, true> = {
  state: true, bytes: true, bytesSent: true, chunks: true, writes: true, coalescedWrites: true, backpressureEvents: true,
  backpressureMicros: true, queuedBytes: true, peakQueuedBytes: true, sendfileBytes: true, writeLatencyTotalMicros: true,
  writeLatencyMaxMicros: true, startedAt: true, lastWriteAt: true,
};
const SERVER_OPTIONS: Record<keyof NativeServerOptions, true> = {
  maxHeaderSize: true, maxUrlLength: true, maxBodySize: true, maxHeaderCount: true, headersTimeout: true,
  keepAliveTimeout: true, bodyTimeout: true, requestTimeout: true, maxPipelineBuffer: true,
};
const WS_OPTIONS: Record<keyof NativeWsOptions, true> = {
  pingInterval: true, pongTimeout: true, idleTimeout: true, maxFragments: true, maxControlFramesPerSecond: true, overLimit: true,
  deflate: true, deflateThreshold: true, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: true,
  clientMaxWindowBits: true, memLevel: true, level: true,
};
const sorted = (keys: Iterable<string>) => [...keys].sort();

describe('native contract', () => {
  it('request methods travel as llhttp numbers and reach the handler by name', async () => {
    expect(METHODS[1]).to.equal('GET'); // llhttp numbers DELETE 0, GET 1, HEAD 2, POST 3
    expect(METHODS.indexOf('POST')).to.equal(3);
    const seen: string[] = [];
    await withApp((app) => {
      app.all('/m', (req) => {
        seen.push(req.method);
        return req.method;
      });
    }, async ({ port }) => {
      for (const method of ['GET', 'DELETE', 'PATCH', 'PROPFIND', 'QUERY', 'OPTIONS']) {
        const client = await RawClient.connect(port);
        await client.send(`${method} /m HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
        const res = await client.readResponse();
        client.destroy();
        expect(res.status, method).to.equal(200);
        expect(res.body.toString(), method).to.equal(method);
      }
    });
    expect(seen).to.deep.equal(['GET', 'DELETE', 'PATCH', 'PROPFIND', 'QUERY', 'OPTIONS']);
  });

  it('stream counters: the same fields on both sides, read in the core\'s order', () => {
    expect(sorted(STREAM_STATS_FIELDS)).to.deep.equal(sorted(Object.keys(STREAM_STATS)));
    const a = Float64Array.from(STREAM_STATS_FIELDS.map((_, i) => i + 1));
    const stats = streamStatsFrom(a);
    STREAM_STATS_FIELDS.forEach((field, i) => expect(stats[field], field).to.equal(i + 1));
    expect(Object.keys(stats)).to.deep.equal([...STREAM_STATS_FIELDS]);
  });

  it('server counters: a real server reports exactly the fields the types and emptyServerStats() have', async () => {
    await withApp(() => {}, async ({ app }) => {
      const live = app.stats() as unknown as Record<string, unknown>;
      const empty = emptyServerStats() as unknown as Record<string, unknown>;
      expect(sorted(Object.keys(live))).to.deep.equal(sorted(Object.keys(empty)));
      const typed: Record<keyof NativeServerStats, true> = Object.fromEntries(Object.keys(live).map((k) => [k, true])) as Record<keyof NativeServerStats, true>;
      for (const name of constants().serverStats) expect(typed, name).to.have.property(name);
      expect(live.writeLatencyBuckets).to.have.length(constants().latencyBuckets);
    });
  });

  it('WebSocket options: the same names on both sides (wsAccept takes them in constants.wsOptions\' order)', () => {
    expect(sorted(Object.keys(constants().wsOptions))).to.deep.equal(sorted(Object.keys(WS_OPTIONS)));
    for (const v of Object.values(constants().wsOptions)) expect(v).to.be.a('number');
    expect(constants().wsOptions.serverNoContextTakeover).to.equal(1);
  });

  it('server options and their defaults come from the core', () => {
    expect(sorted(Object.keys(constants().serverOptions))).to.deep.equal(sorted(Object.keys(SERVER_OPTIONS)));
    // an App built with no options sends the core's defaults
    const app = new App();
    expect((app as unknown as { serverOptions: NativeServerOptions }).serverOptions).to.deep.equal(constants().serverOptions);
    expect(FLOW_DEFAULTS).to.deep.equal(constants().streamOptions);
  });

  it('states, close reasons and flags: every name on one side exists on the other with the core\'s value', () => {
    const pairs: Array<[string, Record<string, number>, Record<string, number>]> = [
      ['streamState', StreamState, constants().streamState],
      ['abortReason', AbortReason, constants().abortReason],
      ['requestFlags', RequestFlags, constants().requestFlags],
      ['respondFlags', RespondFlags, constants().respondFlags],
      ['streamFlags', StreamFlags, constants().streamFlags],
      ['listenFlags', ListenFlags, constants().listenFlags],
    ];
    for (const [name, ours, core] of pairs) expect(ours, name).to.deep.equal(core);
    expect(StreamState.Finished).to.be.below(StreamState.Aborted); // "Finished and after are final"
  });

  it('the core\'s error codes are exported by name, and the addon rejects what it does not know', () => {
    expect(constants().errors).to.include({ ECLOSED: -5001, ELENGTH: -5006 });
    expect(Object.isFrozen(native().constants)).to.equal(true);
  });
});
