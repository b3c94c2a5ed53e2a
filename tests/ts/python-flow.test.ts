/**
 * Python endpoints: pacing by the socket, cancellation on disconnect, and errors before
 * and after the first chunk, over real sockets.
 */
import { expect } from 'chai';
import { fetchRaw, RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { decodeChunked } from '../helpers/chunked.js';
import { markerCount, markerFile, readMarker, startPythonApp, waitMarker, type PythonAppContext } from '../helpers/python.js';

describe('python endpoints: pacing, cancellation, errors', () => {
  let ctx: PythonAppContext;

  before(async () => {
    ctx = await startPythonApp((app, py) => {
      const small = { highWaterMark: 16 * 1024, lowWaterMark: 4 * 1024 };
      app.get('/endless', py.endpoint('bridge_handlers:endless', small));
      app.get('/slow', py.endpoint('bridge_handlers:slow'));
      app.get('/aslow', py.endpoint('bridge_handlers:async_slow'));
      app.get('/late-first', py.endpoint('bridge_handlers:late_first'));
      app.get('/fail-before', py.endpoint('bridge_handlers:fail_before'));
      app.get('/fail-later', py.endpoint('bridge_handlers:fail_later'));
      app.get('/bad-item', py.endpoint('bridge_handlers:bad_item'));
      app.get('/crash', py.endpoint('bridge_handlers:crash'));
      app.get('/hello', py.endpoint('bridge_handlers:hello'));
    }, { window: 16 * 1024 });
  });
  after(async () => ctx.close());

  it('stops the generator while the client does not read, and resumes it when it reads again', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    try {
      client.socket.pause();
      await client.send(requestBytes({ path: `/endless?size=1024&marker=${marker}` }));
      // The kernel buffers absorb some megabytes; then the count must stop moving.
      let last = -1;
      let count = 0;
      for (let i = 0; i < 100; i++) {
        await sleep(300);
        count = markerCount(marker);
        if (count > 0 && count === last) break;
        last = count;
      }
      expect(count, 'the generator produced something').to.be.above(0);
      await sleep(700);
      expect(markerCount(marker), 'no progress while the client does not read').to.equal(count);
      // Socket buffers + 16 KiB high watermark + 16 KiB credit window: far below 20 MB.
      expect(count * 1024).to.be.below(20 * 1024 * 1024);
      client.socket.resume();
      const end = Date.now() + 5000;
      while (markerCount(marker) < count + 1000 && Date.now() < end) await sleep(50);
      expect(markerCount(marker), 'the generator resumed').to.be.at.least(count + 1000);
    } finally {
      client.destroy();
    }
    const lines = await waitMarker(marker, 'finally', 3000);
    expect(lines).to.include('exit');
  });

  it('closes a sync generator blocked on credit at once when the client disconnects (finally + with run)', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    client.socket.pause();
    await client.send(requestBytes({ path: `/endless?marker=${marker}` }));
    await waitMarker(marker, 'count', 5000);
    await sleep(300);
    const t0 = Date.now();
    client.destroy();
    const lines = await waitMarker(marker, 'finally', 3000);
    expect(Date.now() - t0, 'generator closed promptly').to.be.below(1000);
    expect(lines).to.include('enter');
    expect(lines).to.include('exit');
    await within(waitIdle(ctx), 3000, 'the stream to be released');
  });

  it('closes a sleeping sync generator at its next yield when the client disconnects', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ path: `/slow?interval=0.3&marker=${marker}` }));
    await client.until(() => client.buffer.includes('tick 0\n'), 'tick 0', 5000);
    const t0 = Date.now();
    client.destroy();
    await waitMarker(marker, 'finally', 3000);
    expect(Date.now() - t0).to.be.below(1200);
    const items = readMarker(marker).filter((l) => l.startsWith('item'));
    expect(items.length, `items after disconnect: ${items}`).to.be.at.most(2);
  });

  it('cancels an async generator inside its await when the client disconnects', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ path: `/aslow?interval=30&marker=${marker}` }));
    await client.until(() => client.buffer.includes('tick 0\n'), 'tick 0', 5000);
    const t0 = Date.now();
    client.destroy();
    await waitMarker(marker, 'finally', 3000);
    expect(Date.now() - t0, 'a 30 s sleep was interrupted').to.be.below(1000);
  });

  it('closes a generator when the client leaves before its first item', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ path: `/late-first?delay=0.5&marker=${marker}` }));
    await waitMarker(marker, 'start', 5000);
    client.destroy();
    const lines = await waitMarker(marker, 'finally', 3000);
    expect(lines, 'the generator did not go past its first yield').to.not.include('after first');
  });

  it('answers 500 and logs the Python traceback when the function fails before its first item', async () => {
    const before = ctx.logged.length;
    const r = await fetchRaw(ctx.port, { path: '/fail-before' });
    expect(r.status).to.equal(500);
    expect(r.text()).to.equal('Internal Server Error');
    const logged = ctx.logged.slice(before).map((args) => String(args[0])).join('\n');
    expect(logged).to.include('Traceback (most recent call last)');
    expect(logged).to.include('ValueError: boom before the first item');
    expect(logged).to.include('bridge_handlers.py');
    const again = await fetchRaw(ctx.port, { path: '/hello' });
    expect(again.text()).to.equal('hello from python\n');
  });

  it('aborts the stream (no chunked terminator) when the function fails after its first item', async () => {
    const before = ctx.logged.length;
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/fail-later' }));
      await client.waitForClose(5000);
      const text = client.buffer.toString('latin1');
      expect(text.startsWith('HTTP/1.1 200 OK\r\n'), text).to.equal(true);
      const head = text.indexOf('\r\n\r\n') + 4;
      const body = decodeChunked(client.buffer.subarray(head));
      expect(body.body.toString()).to.equal('first\n');
      expect(body.terminated, 'the client sees a truncated body').to.equal(false);
    } finally {
      client.destroy();
    }
    const logged = ctx.logged.slice(before).map((args) => String(args[0])).join('\n');
    expect(logged).to.include('RuntimeError: boom later');
  });

  it('treats an item of the wrong type as an error of the function', async () => {
    const before = ctx.logged.length;
    const r = await fetchRaw(ctx.port, { path: '/bad-item' });
    expect(r.status).to.equal(500);
    expect(ctx.logged.slice(before).map((a) => String(a[0])).join('\n')).to.include('TypeError');
  });

  it('answers 500 when a worker dies under a request, and replaces the worker', async () => {
    const before = ctx.bridge.stats().workers;
    const r = await fetchRaw(ctx.port, { path: '/crash' });
    expect(r.status).to.equal(500);
    for (let i = 0; i < 4; i++) {
      const ok = await fetchRaw(ctx.port, { path: '/hello' });
      expect(ok.text()).to.equal('hello from python\n');
    }
    const end = Date.now() + 5000;
    while (ctx.bridge.stats().workers.length < 2 && Date.now() < end) await sleep(50);
    const after = ctx.bridge.stats().workers;
    expect(after).to.have.length(2);
    expect(after).to.not.deep.equal(before);
  });
});

async function waitIdle(ctx: PythonAppContext): Promise<void> {
  while (ctx.bridge.stats().activeStreams > 0) await sleep(20);
}
