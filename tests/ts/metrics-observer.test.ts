/**
 * The transport's observer hook (what per-route metrics are built on), over the fake
 * native server: the route pattern of every answer, stream starts and closes with their
 * reasons and final counters, requests aborted before any answer, a 500 after a stream
 * failed before its first chunk, and a throwing observer that is logged, never fatal.
 */
import { expect } from 'chai';
import { MiddlewareChain } from '../../ts/middleware.js';
import { Pipeline, type Handler, type RouteOptions } from '../../ts/pipeline.js';
import { Router } from '../../ts/router.js';
import { StreamingResponse } from '../../ts/index.js';
import { Transport, type DispatchObserver } from '../../ts/transport.js';
import { FakeNative, until } from '../helpers/fake-native.js';
import { METHODS } from '../../ts/native.js';

function setup(routes: Array<[string, string, Handler]>, observers: DispatchObserver[]) {
  const router = new Router<Handler, RouteOptions>();
  for (const [m, p, h] of routes) router.add(m, p, h);
  const logged: unknown[] = [];
  const logger = { error: (...a: unknown[]) => logged.push(a.join(' ')) };
  const transport = new Transport(new Pipeline(router, new MiddlewareChain(), logger), logger, {}, observers);
  const fake = new FakeNative();
  fake.cb = transport.callbacks();
  transport.attach(fake);
  let next = 1;
  const send = (method: string, url: string): number => {
    const id = next++;
    fake.cb.onRequest(id, METHODS.indexOf(method), url, '', 0);
    fake.cb.onBodyEnd(id);
    return id;
  };
  return { fake, logged, send };
}

function recorder(): DispatchObserver & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    responded: (route, status) => events.push(`responded ${route} ${status}`),
    aborted: (route) => events.push(`aborted ${route}`),
    streamStarted: (id, req) => events.push(`started ${id} ${req.route} ${req.path}`),
    streamClosed: (id, route, reason, stats) => events.push(`closed ${id} ${route} ${reason} ${stats.bytes}`),
  };
}

describe('metrics: the transport observer (DispatchObserver)', () => {
  it('reports route patterns, stream starts and closes with reasons and counters, aborts before an answer', async () => {
    const obs = recorder();
    let hold!: () => void;
    const { fake, send } = setup([
      ['GET', '/users/:id', () => 'user'],
      ['GET', '/rows', () => new StreamingResponse(['ab', 'cd'])],
      ['GET', '/ticks', () => new StreamingResponse(async function* () {
        yield 'one';
        await new Promise(() => {}); // never ends by itself
      }())],
      ['GET', '/broken', () => new StreamingResponse(async function* () {
        throw new Error('before the first chunk');
      }())],
      ['GET', '/wait', () => new Promise<string>((resolve) => (hold = () => resolve('late')))],
    ], [obs]);

    send('GET', '/users/7?x=1');
    send('GET', '/nowhere');
    const rows = send('GET', '/rows');
    await until(() => obs.events.some((e) => e.startsWith(`closed ${rows}`)), 'rows to close');
    const ticks = send('GET', '/ticks');
    await until(() => fake.streams.get(ticks)?.chunks.length === 1, 'a tick');
    fake.disconnect(ticks);
    const broken = send('GET', '/broken');
    await until(() => obs.events.some((e) => e.startsWith(`closed ${broken}`)), 'broken to close');
    const wait = send('GET', '/wait');
    fake.disconnect(wait);
    hold();
    await until(() => obs.events.includes('aborted /wait'), 'the abort');

    expect(obs.events).to.deep.equal([
      'responded /users/:id 200',
      'responded undefined 404',
      'responded /rows 200',
      `started ${rows} /rows /rows`,
      `closed ${rows} /rows finished 4`,
      'responded /ticks 200',
      `started ${ticks} /ticks /ticks`,
      `closed ${ticks} /ticks client-closed 3`,
      'responded /broken 500',
      `closed ${broken} /broken error 0`,
      'aborted /wait',
    ]);
  });

  it('a throwing observer is logged; the answer and the other observers are unaffected', () => {
    const obs = recorder();
    const bad: DispatchObserver = {
      responded: () => {
        throw new Error('observer bug');
      },
      aborted: () => {},
      streamStarted: () => {},
      streamClosed: () => {},
    };
    const { fake, logged, send } = setup([['GET', '/', () => 'hi']], [bad, obs]);
    send('GET', '/');
    expect(fake.sent.map((s) => s.status)).to.deep.equal([200]);
    expect(obs.events).to.deep.equal(['responded / 200']);
    expect(logged.join('\n')).to.include('observer bug');
  });
});
