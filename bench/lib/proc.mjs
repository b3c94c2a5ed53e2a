// What the bench scripts read about a process from /proc (Linux), and a free port: one copy for
// pg-cpu.mjs, pg-export.mjs and scaleout.mjs. CPU is in clock ticks of 1/100 s (getconf CLK_TCK).
import fs from 'node:fs';
import net from 'node:net';

/** /proc/<pid>/stat's parent, user and system ticks, and its ended children's ticks; null once gone. */
export function procStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(f[11]);
    const sys = Number(f[12]);
    return { ppid: Number(f[1]), user, sys, ticks: user + sys, reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** Resident memory in KiB (VmRSS), 0 once the process is gone. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
