/**
 * Database drivers are optional peer dependencies, loaded at their first use (never at
 * `import 'catzilla'`). A missing one is a clear error naming the package to install.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

export class MissingDriverError extends Error {
  readonly code = 'ERR_CATZILLA_MISSING_DRIVER';
  constructor(
    readonly packageName: string,
    what: string,
    install: string,
  ) {
    super(`${what} needs the npm package "${packageName}", which is not installed: npm install ${install}`);
    this.name = 'MissingDriverError';
  }
}

/** The module `id`, required once; `what` and `install` word the error when it is missing. */
export function driver<T>(id: string, what: string, install = id): T {
  let mod = loaded.get(id);
  if (mod === undefined) {
    try {
      mod = load(id);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${id}'`)) {
        throw new MissingDriverError(id, what, install);
      }
      throw err;
    }
    loaded.set(id, mod);
  }
  return mod as T;
}
