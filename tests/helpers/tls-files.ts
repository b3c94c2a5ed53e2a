/**
 * TLS material for tests: a throwaway CA, a server certificate for 127.0.0.1 / localhost and a
 * client certificate signed by it, and another CA, made with the openssl CLI (scripts/setup.mjs
 * installs it). Used by the Redis and PostgreSQL TLS tests.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI. */
export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Another CA's certificate: one that did not sign the server's. */
  otherCa: string;
}

export function makeTlsFiles(dir: string): TlsFiles {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=catzilla test ${ca}`, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`));
  }
  fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=catzilla test ${who}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`));
    openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('san.ext'), '-out', f(`${who}.pem`));
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), otherCa: f('other-ca.pem') };
}
