/**
 * The upload handler of the bench contract, for client tests: every part read as it streams by,
 * each file part hashed; the answer lists each file's field, safe filename, size and sha256, and
 * the fields.
 */
import { createHash } from 'node:crypto';
import type { Request } from '../../ts/index.js';

export async function hashParts(req: Request): Promise<object> {
  const files: object[] = [];
  const fields: Record<string, string> = {};
  for await (const part of req.multipart()) {
    if (part.kind === 'field') {
      fields[part.name] = part.value;
      continue;
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of part) {
      hash.update(chunk);
      size += chunk.length;
    }
    files.push({ field: part.name, filename: part.filename, size, sha256: hash.digest('hex') });
  }
  return { files, fields };
}
