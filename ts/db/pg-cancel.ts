/**
 * PostgreSQL's CancelRequest (protocol 3, "Canceling Requests in Progress"): a new connection
 * to the server sends 16 bytes (length 16, code 80877102, the backend's PID and secret key) and
 * is closed. The server then interrupts whatever that backend is running, as
 * pg_cancel_backend() would, without taking a connection from the pool.
 */
import net from 'node:net';
import type { PgClient } from './pg-types.js';

const CANCEL_CODE = 80877102;

/** Resolves once the request was sent (or could not be); never rejects. */
export function sendCancel(client: PgClient, timeoutMs = 2000): Promise<boolean> {
  const pid = client.processID;
  const key = client.secretKey;
  if (typeof pid !== 'number' || typeof key !== 'number') return Promise.resolve(false);
  const host = client.host ?? 'localhost';
  const port = client.port ?? 5432;
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host);
    const done = (sent: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(sent);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(CANCEL_CODE, 4);
      msg.writeInt32BE(pid, 8);
      msg.writeInt32BE(key | 0, 12);
      // The server closes the connection once it has read the request.
      socket.end(msg, () => done(true));
    });
  });
}
