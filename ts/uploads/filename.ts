/**
 * A client's filename is metadata, never a path. `safeFilename` keeps a displayable name: the
 * last path segment (slashes and backslashes both separate), without NUL, control characters or
 * leading dots, at most 255 UTF-8 bytes; files are stored under generated names (`storedName`)
 * that keep at most a short alphanumeric extension.
 */

/** The longest kept filename in UTF-8 bytes (a usual file system's name limit). */
export const MAX_FILENAME_BYTES = 255;

export function safeFilename(raw: string | undefined): string {
  if (raw === undefined) return '';
  let name = raw;
  const slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  if (slash !== -1) name = name.slice(slash + 1);
  // eslint-disable-next-line no-control-regex
  name = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').replace(/^[.\s]+/, '').trim();
  if (Buffer.byteLength(name, 'utf8') > MAX_FILENAME_BYTES) {
    // Keep the extension, cut the stem on a character boundary.
    const ext = extensionOf(name);
    const stem = Buffer.from(name.slice(0, name.length - ext.length), 'utf8').subarray(0, MAX_FILENAME_BYTES - ext.length);
    // A cut inside a multi-byte character decodes as U+FFFD: drop it.
    name = stem.toString('utf8').replace(/\uFFFD+$/, '') + ext;
  }
  return name;
}

/** '.ext' of a name when it is 1-10 ASCII letters or digits, else ''. */
export function extensionOf(name: string): string {
  const m = /\.([A-Za-z0-9]{1,10})$/.exec(name);
  return m === null ? '' : '.' + m[1]!.toLowerCase();
}
