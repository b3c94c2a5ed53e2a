/**
 * A TCP proxy on 127.0.0.1 in front of a server, for faults a real server cannot show: freeze()
 * makes every connection open now go silent without closing (a half-open connection, a
 * partitioned network: bytes are no longer read or forwarded either way), while connections
 * made afterwards work.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections open now stop forwarding (and are never closed by the proxy until close()). */
  freeze(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const frozen: net.Socket[] = [];
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze() {
      for (const pair of pairs) {
        const [client, upstream] = pair;
        pairs.delete(pair);
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push(client, upstream);
      }
    },
    async close() {
      for (const s of frozen) s.destroy();
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
