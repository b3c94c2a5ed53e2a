/**
 * App lifecycle hooks: onListen runs before the port is bound (a failure rejects listen and
 * runs the close hooks), onClose runs once the server has closed.
 */
import net from 'node:net';
import { expect } from 'chai';
import { App } from '../../ts/index.js';

function connectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('App lifecycle hooks', () => {
  it('runs onListen before binding and onClose after the server closed, in order', async () => {
    const events: string[] = [];
    const app = new App();
    app.get('/', () => 'ok');
    app.onListen(async () => { events.push('listen-1'); });
    app.onListen(() => { events.push('listen-2'); });
    app.onClose(() => { events.push('close'); });
    const { port } = await app.listen({ host: '127.0.0.1', port: 0 });
    expect(events).to.deep.equal(['listen-1', 'listen-2']);
    expect(await connectable(port)).to.equal(true);
    await app.close();
    expect(events).to.deep.equal(['listen-1', 'listen-2', 'close']);
    expect(await connectable(port)).to.equal(false);
  });

  it('a failing onListen rejects listen, binds nothing and runs the close hooks', async () => {
    const events: string[] = [];
    const app = new App();
    app.onListen(() => { throw new Error('no python here'); });
    app.onClose(() => { events.push('close'); });
    let error: unknown;
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.equal('no python here');
    expect(events).to.deep.equal(['close']);
    expect(app.stats().connectionsAccepted).to.equal(0);
  });

  it('rejects hooks that are not functions with a TypeError', () => {
    const app = new App();
    expect(() => app.onListen(42 as never)).to.throw(TypeError, /onListen/);
    expect(() => app.onClose(null as never)).to.throw(TypeError, /onClose/);
  });
});
