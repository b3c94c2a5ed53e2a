/**
 * The request body of a Python endpoint that reads it as it arrives (`body: 'stream'` or
 * `'parts'`): Node sends it to the worker in Body frames of at most 64 KiB, paced by credit the
 * worker returns as the endpoint consumes (BodyCredit), exactly like responses are paced the
 * other way. While the endpoint does not read, nothing more is pulled from the request, so the
 * body queue fills and the core stops reading the socket.
 *
 * Parts: the multipart body is parsed here, by the same parser and limits as req.multipart()
 * (one parser, one set of 413/400 answers); the worker gets a Part frame per part, then the
 * file's bytes as Body frames. A limit or a malformed body ends the body with an error frame
 * that the endpoint's iteration raises as HTTPError (so, before its first item, the answer is
 * that 413 or 400).
 */
import { HttpError, isConnectionGone } from '../errors.js';
import type { Request } from '../request.js';
import { MultipartReader } from '../uploads/multipart.js';
import { Frame, MAX_DATA } from './protocol.js';
import type { PythonStream } from './stream.js';

/** Sends `source` (the raw body of `req`, or the parts of a MultipartReader) to the stream's worker. */
export async function pumpRequestBody(stream: PythonStream, source: Request | MultipartReader, window: number): Promise<void> {
  stream.openBody(window);
  let error: { status: number; message: string } | null = null;
  try {
    if (!(source instanceof MultipartReader)) {
      for await (const chunk of source) if (!(await sendData(stream, chunk))) return;
    } else {
      for await (const part of source) {
        if (!(await stream.bodyReady())) return;
        if (part.kind === 'field') {
          stream.sendBodyFrame(Frame.Part, json({ kind: 'field', name: part.name, mimeType: part.mimeType, value: part.value }));
          continue;
        }
        stream.sendBodyFrame(Frame.Part, json({ kind: 'file', name: part.name, filename: part.filename, mimeType: part.mimeType }));
        for await (const chunk of part) if (!(await sendData(stream, chunk))) return;
      }
    }
  } catch (err) {
    if (err instanceof HttpError) error = { status: err.status, message: err.message };
    else if (isConnectionGone(err) || (err as Error)?.name === 'AbortError') error = { status: 499, message: 'the client closed the connection' };
    else error = { status: 500, message: 'the request body could not be read' };
  }
  stream.sendBodyFrame(Frame.BodyEnd, error === null ? undefined : json({ error }));
}

/** Sends a chunk in slices of at most MAX_DATA, each once the worker has credit; false when it is gone. */
async function sendData(stream: PythonStream, chunk: Buffer): Promise<boolean> {
  for (let off = 0; off < chunk.length; off += MAX_DATA) {
    if (!(await stream.bodyReady())) return false;
    stream.sendBodyFrame(Frame.Body, chunk.subarray(off, off + MAX_DATA));
  }
  return true;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
