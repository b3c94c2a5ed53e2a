/**
 * prom-client, loaded on first use: with the OpenTelemetry API it pulls in, it is most of the
 * 2.6 MiB that importing catzilla no longer costs (RSS 64.1 -> 61.5 MiB with compressible lazy
 * too), which an app that never asks for metrics should not pay. Everything in ts/metrics/
 * takes it from here.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

let loaded: typeof PromClient | undefined;

export function promClient(): typeof PromClient {
  return (loaded ??= createRequire(import.meta.url)('prom-client') as typeof PromClient);
}
