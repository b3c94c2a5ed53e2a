// Connections lost across rolling restarts of workers mode (README "Workers").
//
//   node --import tsx bench/lib/rolling-restart.mts [rounds=30] [clients=4]
//
// Starts tests/fixtures/workers-app.ts with 2 workers on 127.0.0.1, runs `clients` loops that
// each open a new connection per request (GET /pid, Connection: close) as fast as they can, and
// sends SIGHUP `rounds` times, each time waiting until both workers were replaced. Prints the
// requests answered and every failure (refused, reset, an empty or cut answer), as JSON.
import { get, Primary, sleep, until } from '../../tests/helpers/workers-child.js';

const rounds = Number(process.argv[2] ?? 30);
const clients = Number(process.argv[3] ?? 4);
const p = await Primary.start({ WORKERS: '2' });
let stop = false;
let ok = 0;
const failures: string[] = [];
const loop = async (): Promise<void> => {
  while (!stop) {
    try {
      await get(p.port, '/pid', 10000);
      ok++;
    } catch (err) {
      failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
    }
  }
};
const running = Array.from({ length: clients }, loop);
const t0 = Date.now();
for (let r = 0; r < rounds; r++) {
  const before = p.workerPids();
  p.kill('SIGHUP');
  await until(() => {
    const now = p.workerPids();
    return now.length === 2 && now.every((pid) => !before.includes(pid));
  }, 60000, `round ${r + 1}`);
  await sleep(200);
}
stop = true;
await Promise.all(running);
const seconds = (Date.now() - t0) / 1000;
console.log(JSON.stringify({ rounds, workerCloses: rounds * 2, clients, answered: ok, perSecond: Math.round(ok / seconds), failures: failures.length, sample: failures.slice(0, 10) }));
await p.stop();
