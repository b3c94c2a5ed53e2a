/**
 * Which media types are worth compressing: mime-db's verdict through the
 * `compressible` package (so images, archives and video are skipped), plus record
 * formats it does not list. Unknown types are not compressed.
 */
import { createRequire } from 'node:module';
import type compressibleFn from 'compressible';

/** Loaded at the first verdict: mime-db behind it is ~1 MiB of RSS an app that never compresses need not pay. */
let compressible: typeof compressibleFn | undefined;

const EXTRA: ReadonlySet<string> = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/json-seq']);

export function isCompressible(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (EXTRA.has(type)) return true;
  compressible ??= createRequire(import.meta.url)('compressible') as typeof compressibleFn;
  return compressible(type) === true;
}
