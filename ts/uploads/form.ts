/**
 * `req.form(options)`: a whole form read at once. Fields are collected; each file part is
 * streamed to `uploadDir` under a generated name (random hex plus a short safe extension,
 * created exclusively with mode 0600), never under the client's filename, which is kept as
 * metadata only. On any failure (a limit, a malformed body, the client leaving) every file
 * this call created, complete or partial, is deleted before the error is thrown.
 * Saved files belong to the application afterwards: move them or delete them (`form.remove()`).
 */
import type Crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { lazy } from '../lazy.js';
import { extensionOf } from './filename.js';
import { limitError, type UploadLimits } from './limits.js';
import { MultipartReader, type UploadBody } from './multipart.js';

const crypto = lazy<typeof Crypto>('node:crypto');

export interface FormOptions {
  /** Directory where file parts are saved. Without it a body with a file part answers 413 (limits.files = 0). */
  uploadDir?: string;
  limits?: UploadLimits;
}

/** A file part saved to disk. */
export interface UploadedFile {
  /** The form field's name. */
  field: string;
  /** The client's filename made safe (metadata only, never used as a path); '' when none was sent. */
  filename: string;
  mimeType: string;
  /** Where the file was saved: `uploadDir` + a generated name. */
  path: string;
  size: number;
}

export interface Form {
  /** Each field's value (the last one for a repeated name). */
  fields: Record<string, string>;
  /** Every field in body order, repeated names included. */
  fieldList: Array<[name: string, value: string]>;
  files: UploadedFile[];
  /** Deletes the saved files (those not moved away); never throws. */
  remove(): Promise<void>;
}

export async function readForm(req: UploadBody, options: FormOptions = {}): Promise<Form> {
  if (typeof options !== 'object' || options === null) throw new TypeError('req.form() options must be an object');
  const { uploadDir } = options;
  if (uploadDir !== undefined && (typeof uploadDir !== 'string' || uploadDir === '')) throw new TypeError('req.form() option uploadDir must be a non-empty string');
  const limits: UploadLimits = { ...options.limits };
  if (uploadDir === undefined) limits.files = 0;
  const reader = new MultipartReader(req, limits);
  const fields: Record<string, string> = Object.create(null);
  const fieldList: Array<[string, string]> = [];
  const files: UploadedFile[] = [];
  let writing: string | null = null;
  try {
    for await (const part of reader) {
      if (part.kind === 'field') {
        fields[part.name] = part.value;
        fieldList.push([part.name, part.value]);
        continue;
      }
      if (uploadDir === undefined) throw limitError('files', 0, 'this form takes no files (no uploadDir)');
      const target = path.join(uploadDir, crypto().randomBytes(16).toString('hex') + extensionOf(part.filename));
      writing = target;
      const out = fs.createWriteStream(target, { flags: 'wx', mode: 0o600 });
      await pipeline(part.stream, out);
      files.push({ field: part.name, filename: part.filename, mimeType: part.mimeType, path: target, size: out.bytesWritten });
      writing = null;
    }
  } catch (err) {
    await removeFiles([...files.map((f) => f.path), ...(writing === null ? [] : [writing])]);
    throw err;
  }
  return { fields, fieldList, files, remove: () => removeFiles(files.map((f) => f.path)) };
}

async function removeFiles(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => fs.promises.rm(p, { force: true }).catch(() => {})));
}
