/**
 * Modules loaded at their first use instead of at `import 'catzilla'`: Node built-ins that only
 * some requests need (crypto for a WebSocket handshake, zlib for compression) and CommonJS
 * packages only some apps use. Each costs start-up memory (node:crypto ~2.3 MiB of RSS, node:zlib
 * ~1.6 MiB in a bare process) that an app which never reaches them should not pay.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A function returning the module `id`, required at its first call. */
export function lazy<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(id) as T);
}
