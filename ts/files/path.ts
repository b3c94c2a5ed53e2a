/**
 * Safe path resolution under a root directory. A request path is percent-decoded
 * exactly once (so `%252e%252e%252f` stays the literal name `%2e%2e%2f`), then refused
 * when it could name anything outside the root: `..` segments (also once decoded:
 * `%2e%2e%2f`), backslashes, NUL bytes. Dotfiles follow a policy, and symlinks are
 * checked against the real path of the root after resolution.
 */
import fs from 'node:fs';
import path from 'node:path';

export type DotfilesPolicy = 'ignore' | 'deny' | 'allow';
export type SymlinksPolicy = 'inside' | 'follow' | 'deny';

export type Resolved =
  | { ok: true; /** Absolute lexical path under the root. */ path: string; segments: string[]; trailingSlash: boolean }
  | { ok: false; status: 400 | 403 | 404; why: string };

/** Decodes a raw URL path once; null when the percent-encoding is malformed. */
export function decodeUrlPath(raw: string): string | null {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * Resolves an already-decoded relative path under `root` (absolute). Empty segments and
 * `.` are dropped; `..`, backslashes and NUL are refused; dotfile segments follow `dotfiles`.
 */
export function resolveUnder(root: string, decoded: string, dotfiles: DotfilesPolicy = 'ignore'): Resolved {
  if (decoded.includes('\0')) return { ok: false, status: 400, why: 'NUL byte in path' };
  if (decoded.includes('\\')) return { ok: false, status: 404, why: 'backslash in path' };
  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return { ok: false, status: 404, why: 'parent segment in path' };
    if (segment.startsWith('.') && dotfiles !== 'allow') {
      return dotfiles === 'deny' ? { ok: false, status: 403, why: 'dotfile' } : { ok: false, status: 404, why: 'dotfile' };
    }
    segments.push(segment);
  }
  const full = path.join(root, ...segments);
  // Belt and braces: nothing above can produce a path outside the root, and this proves it.
  if (!within(root, full)) return { ok: false, status: 404, why: 'outside root' };
  return { ok: true, path: full, segments, trailingSlash: decoded.endsWith('/') };
}

/** Whether `p` is `root` or below it (both absolute and normalised). */
export function within(root: string, p: string): boolean {
  if (p === root) return true;
  const base = root.endsWith(path.sep) ? root : root + path.sep;
  return p.startsWith(base);
}

/**
 * The real path of a resolved file, or null when the symlink policy refuses it (or it
 * does not exist). `realRoot` is the real path of the root.
 */
export async function checkSymlinks(realRoot: string, segments: readonly string[], policy: SymlinksPolicy): Promise<string | null> {
  const lexical = path.join(realRoot, ...segments);
  let real: string;
  try {
    real = await fs.promises.realpath(lexical);
  } catch {
    return null;
  }
  if (policy === 'follow') return real;
  if (policy === 'deny') return real === lexical ? real : null;
  return within(realRoot, real) ? real : null;
}

/** Collapses leading slashes so a redirect target never becomes a scheme-relative URL (`//host`). */
export function safeLocation(rawPath: string): string {
  return rawPath.replace(/^\/{2,}/, '/');
}
