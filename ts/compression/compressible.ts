/**
 * Which media types are worth compressing: mime-db's verdict through the
 * `compressible` package (so images, archives and video are skipped), plus record
 * formats it does not list. Unknown types are not compressed.
 */
import compressible from 'compressible';

const EXTRA: ReadonlySet<string> = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/json-seq']);

export function isCompressible(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (EXTRA.has(type)) return true;
  return compressible(type) === true;
}
