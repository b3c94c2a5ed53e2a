/**
 * Assertions shared by the wire tests.
 */
import { expect } from 'chai';
import type { ParsedResponse } from './http-parse.js';
import { isImfFixdate } from './http-parse.js';
import { fetchRaw, RawClient, type RequestSpec } from './raw-client.js';

/** Route every wire-test app registers so tests can check the server still serves. */
export const ALIVE_PATH = '/alive';
export const ALIVE_BODY = 'alive';

/** A fresh connection still gets `200 alive` from ALIVE_PATH. */
export async function expectStillServing(port: number): Promise<void> {
  const r = await fetchRaw(port, { path: ALIVE_PATH });
  expect(r.statusLine, 'server still serves a fresh connection').to.equal('HTTP/1.1 200 OK');
  expect(r.text()).to.equal(ALIVE_BODY);
}

/** Status line, Date, and a header-case-insensitive single value check. */
export function expectStatus(r: ParsedResponse, status: number, reason: string): void {
  expect(r.statusLine, r.head).to.equal(`HTTP/1.1 ${status} ${reason}`);
  expect(isImfFixdate(r.get('date')), `Date header ${r.get('date')}`).to.equal(true);
}

/** Connection header tokens, lowercased. */
export function connectionTokens(r: ParsedResponse): string[] {
  return (r.get('connection') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * Send `bytes` on a fresh connection and expect a core error answer: the status,
 * `Connection: close`, then the server closes the connection.
 */
export async function expectCoreError(port: number, bytes: string | Buffer, status: number, reasons: string | string[]): Promise<ParsedResponse> {
  const client = await RawClient.connect(port);
  try {
    await client.send(bytes);
    const r = await client.readResponse();
    const allowed = Array.isArray(reasons) ? reasons : [reasons];
    expect(r.status, r.head).to.equal(status);
    expect(allowed, `reason phrase in ${JSON.stringify(r.statusLine)}`).to.include(r.reason);
    expect(r.version).to.equal('HTTP/1.1');
    expect(isImfFixdate(r.get('date')), `Date header ${r.get('date')}`).to.equal(true);
    expect(connectionTokens(r), r.head).to.include('close');
    await client.waitForClose();
    expect(client.unread().length, `bytes after the error answer: ${JSON.stringify(client.unread().toString('latin1'))}`).to.equal(0);
    return r;
  } finally {
    client.destroy();
  }
}

export type { RequestSpec };
