/**
 * Workers mode (`app.listen({ workers })`): real primary and worker processes of
 * tests/fixtures/workers-app.ts on one port of 127.0.0.1 (SO_REUSEPORT). Connections spread over
 * the workers; a dead worker is restarted (one log line, growing delays in a crash loop); SIGTERM
 * and the terminal's SIGINT close everything gracefully (an in-flight stream finishes); SIGHUP
 * replaces every worker with no refused connection; a start-up failure (port in use, a hook that
 * throws) fails listen() once, without a restart loop; the workers never outlive a killed primary.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { alive, get, Primary, SLOW, sleep, until, whoAnswers } from '../helpers/workers-child.js';

describe('workers: processes on one port', function () {
  this.timeout(180_000);
  const started: Primary[] = [];
  const start = async (env: Record<string, string> = {}, group = false): Promise<Primary> => {
    const p = await Primary.start(env, group);
    started.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  it('spreads connections over the workers (SO_REUSEPORT), the primary serves none', async () => {
    const p = await start({ WORKERS: '2' });
    const listening = await p.listened(1000);
    const workerPids = listening.workers!.map((w) => w.pid).sort();
    expect(workerPids).to.have.length(2);
    expect(p.workerPids()).to.deep.equal(workerPids);
    const seen = new Map<number, number>();
    for (let i = 0; i < 60; i++) {
      const { pid } = await whoAnswers(p.port);
      seen.set(pid, (seen.get(pid) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).to.deep.equal(workerPids);
    expect(seen.has(p.pid)).to.equal(false);
    for (const n of seen.values()) expect(n).to.be.greaterThan(5); // the kernel's hash of 60 source ports
  });

  it('restarts a worker killed with SIGKILL, with one log line naming it, and goes on serving', async () => {
    const p = await start({ WORKERS: '2' });
    const [victim, other] = p.workerPids();
    process.kill(victim!, 'SIGKILL');
    await until(() => /catzilla: worker \d \(pid \d+\) was killed by SIGKILL; restarting it in 100 ms/.test(p.stderr), 10000, `the restart line; stderr: ${p.stderr}`);
    expect(p.stderr.match(/catzilla: worker/g)).to.have.length(1);
    expect(p.stderr).to.contain(`(pid ${victim})`);
    const now = await until(() => {
      const pids = p.workerPids();
      return pids.length === 2 && !pids.includes(victim!) ? pids : undefined;
    }, 30000 * SLOW, 'a replacement worker');
    expect(now).to.include(other);
    await until(() => p.forks() === 3, 5000, 'the third fork line');
    // the replacement serves: every request answered, by both workers in the end
    const seen = new Set<number>();
    await until(async () => {
      seen.add((await whoAnswers(p.port)).pid);
      return seen.size === 2;
    }, 30000 * SLOW, 'answers from both workers');
    expect([...seen].sort()).to.deep.equal(now);
  });

  it('SIGTERM: an in-flight stream finishes within the close deadline, then every process exits', async () => {
    const p = await start({ WORKERS: '2', CLOSE_TIMEOUT: String(8000 * SLOW) });
    const pids = p.workerPids();
    const slow = get(p.port, '/slow?ms=1500', 20000 * SLOW);
    await sleep(300); // the stream has started
    const t0 = Date.now();
    p.kill('SIGTERM');
    const answer = await slow;
    expect(answer.status).to.equal(200);
    expect(answer.body).to.match(/chunk 9 from \d+\ndone\n$/);
    const exit = await Promise.race([p.exited, sleep(20000 * SLOW).then(() => null)]);
    expect(exit, 'the primary exits').to.deep.equal({ code: 0, signal: null });
    expect(Date.now() - t0).to.be.below(8000 * SLOW + 5000);
    await until(() => pids.every((pid) => !alive(pid)), 10000 * SLOW, 'the workers to exit');
    await until(async () => {
      try {
        await get(p.port, '/pid', 2000);
        return false;
      } catch (err) {
        return (err as { code?: string }).code === 'ECONNREFUSED';
      }
    }, 5000, 'the port to refuse connections');
    expect(p.stderr).to.not.match(/catzilla: worker/); // no death, no restart
  });

  it('the terminal\'s SIGINT (to the whole process group): workers wait for the primary, the stream finishes', async () => {
    const p = await start({ WORKERS: '2', CLOSE_TIMEOUT: String(8000 * SLOW) }, true);
    const pids = p.workerPids();
    const slow = get(p.port, '/slow?ms=1500', 20000 * SLOW);
    await sleep(300);
    process.kill(-p.pid, 'SIGINT');
    const answer = await slow;
    expect(answer.body).to.match(/done\n$/);
    const exit = await Promise.race([p.exited, sleep(20000 * SLOW).then(() => null)]);
    expect(exit).to.deep.equal({ code: 0, signal: null });
    await until(() => pids.every((pid) => !alive(pid)), 10000 * SLOW, 'the workers to exit');
    expect(p.stderr).to.not.match(/catzilla: worker/);
  });

  it('SIGHUP: a rolling restart replaces every worker while new connections keep coming, none refused or reset', async () => {
    const p = await start({ WORKERS: '2' });
    const before = p.workerPids();
    let stop = false;
    const failures: string[] = [];
    const pidsSeen = new Set<number>();
    let answered = 0;
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 100000 && !stop; i++) {
        try {
          const { pid } = await whoAnswers(p.port);
          pidsSeen.add(pid);
          answered++;
        } catch (err) {
          failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
        }
      }
    };
    const clients = [loop(), loop(), loop()];
    await sleep(300);
    p.kill('SIGHUP');
    const after = await until(() => {
      const pids = p.workerPids();
      return pids.length === 2 && pids.every((pid) => !before.includes(pid)) ? pids : undefined;
    }, 60000 * SLOW, `two new workers; stderr ${p.stderr}`);
    await sleep(500); // and some more connections to the new ones
    stop = true;
    await Promise.all(clients);
    expect(failures, failures.slice(0, 5).join('; ')).to.deep.equal([]);
    expect(answered).to.be.greaterThan(50);
    for (const pid of after) expect(pidsSeen.has(pid), `new worker ${pid} answered`).to.equal(true);
    await until(() => p.forks() === 4, 5000, 'the fourth fork line');
    expect(p.stderr).to.not.match(/catzilla: worker/); // the old ones were retired, not dead
  });

  it('a port already in use: listen() rejects once with EADDRINUSE, nothing is forked, the primary exits', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const p = Primary.spawn({ WORKERS: '2', PORT: String(port) });
      started.push(p);
      const result = await p.listened(30000 * SLOW);
      expect(result).to.include({ failed: true, code: 'EADDRINUSE' });
      expect(result.message).to.contain(String(port));
      const exit = await Promise.race([p.exited, sleep(15000 * SLOW).then(() => null)]);
      expect(exit).to.deep.equal({ code: 1, signal: null });
      expect(p.forks()).to.equal(0);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('a port a server without SO_REUSEPORT just used (its TIME_WAIT connections) is taken', async () => {
    // node:net binds with SO_REUSEADDR only, like most servers; closing first leaves TIME_WAIT on its side
    const plain = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const port = (plain.address() as net.AddressInfo).port;
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const c = net.connect({ port, host: '127.0.0.1' });
        c.on('end', () => c.end());
        c.on('close', () => resolve());
        c.on('error', () => {});
      });
    }
    await new Promise((resolve) => plain.close(resolve));
    const p = await start({ WORKERS: '2', PORT: String(port) });
    expect(p.port).to.equal(port);
    expect((await whoAnswers(port)).slot).to.be.oneOf([1, 2]);
  });

  it('an onListen hook that throws in the workers: listen() rejects once with its error, no restart loop', async () => {
    const p = Primary.spawn({ WORKERS: '2', FAIL_HOOK: '1' });
    started.push(p);
    const result = await p.listened(30000 * SLOW);
    expect(result).to.deep.include({ failed: true, code: 'EHOOKFAILED', message: 'the database is not there' });
    const exit = await Promise.race([p.exited, sleep(15000 * SLOW).then(() => null)]);
    expect(exit).to.deep.equal({ code: 1, signal: null });
    await sleep(500);
    expect(p.forks()).to.equal(2); // the first two, never again
    expect(p.stderr).to.not.match(/restarting/);
    expect(p.stdout.match(/listen failed/g)).to.have.length(1);
  });

  it('a worker crashing in a loop is restarted with a delay that doubles each time; the other keeps serving', async () => {
    const p = await start({ WORKERS: '2', CRASH_AFTER: '30', CRASH_SLOT: '1', RESTART_DELAY: '50', STABLE_AFTER: '60000' });
    const delays = await until(() => {
      const found = [...p.stderr.matchAll(/catzilla: worker 1 \(pid \d+\) exited with code 3; restarting it in (\d+) ms/g)].map((m) => Number(m[1]));
      return found.length >= 4 ? found : undefined;
    }, 60000 * SLOW, `four deaths of worker 1; stderr ${p.stderr}`);
    expect(delays.slice(0, 4)).to.deep.equal([50, 100, 200, 400]);
    expect(p.stderr).to.not.match(/catzilla: worker 2 /);
    // slot 2 serves throughout
    for (let i = 0; i < 5; i++) {
      const answers = await Promise.allSettled([whoAnswers(p.port)]);
      if (answers[0]!.status === 'fulfilled') expect(answers[0].value.slot).to.be.oneOf([1, 2]);
    }
  });

  it('a replacement that fails to start (after listen() resolved) is restarted with backoff, its error in the log line, until it starts', async () => {
    const marker = path.join(os.tmpdir(), `catzilla-workers-fail-${process.pid}-${Date.now()}`);
    const p = await start({ WORKERS: '2', FAIL_HOOK_IF: marker, RESTART_DELAY: '50', STABLE_AFTER: '60000' });
    try {
      fs.writeFileSync(marker, 'down');
      const [victim] = p.workerPids();
      process.kill(victim!, 'SIGKILL');
      const failures = await until(() => {
        const found = [...p.stderr.matchAll(/catzilla: worker \d \(pid \d+\) exited with code 1 \(EHOOKFAILED: the database is not there\); restarting it in (\d+) ms/g)].map((m) => Number(m[1]));
        return found.length >= 2 ? found : undefined;
      }, 60000 * SLOW, 'two failed restarts').catch((err: Error) => {
        throw new Error(`${err.message}; stderr: ${p.stderr}; stdout: ${p.stdout}`);
      });
      expect(failures.slice(0, 2)).to.deep.equal([100, 200]); // after the SIGKILL's 50 ms
      expect(p.stderr).to.match(/was killed by SIGKILL; restarting it in 50 ms/);
      fs.rmSync(marker);
      await until(async () => p.workerPids().length === 2 && (await p.listened(100)).failed === false && /"state"/.test(p.stdout), 5000, 'listening');
      // back to two serving workers
      const seen = new Set<number>();
      await until(async () => {
        seen.add((await whoAnswers(p.port)).pid);
        return seen.size === 2;
      }, 60000 * SLOW, 'answers from two workers again');
      expect(p.exit).to.equal(null);
    } finally {
      fs.rmSync(marker, { force: true });
    }
  });

  it('the primary killed with SIGKILL: the workers notice (IPC disconnect) and exit, never orphaned', async () => {
    const p = await start({ WORKERS: '2', CLOSE_TIMEOUT: '1000' });
    const pids = p.workerPids();
    expect(pids).to.have.length(2);
    p.kill('SIGKILL');
    await p.exited;
    await until(() => pids.every((pid) => !alive(pid)), 15000 * SLOW, `workers ${pids.join(', ')} to exit`);
  });
});
