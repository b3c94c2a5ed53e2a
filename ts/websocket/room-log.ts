/**
 * The wire format of a resumable room (a room with a `log`): each message a member gets is
 * prefixed with its offset, so the client knows where to resume from.
 *
 *   <offset> <payload>     a room message: text stays a text frame, binary a binary frame
 *                          (the offset's ASCII bytes and one space, then the payload's own bytes)
 *   <offset>               text, no space: the offset of the member's own broadcast (it was
 *                          `except`), so that its next resume starts after it
 *   gap <json>             text: what was asked for is not in the log (see GapNotice)
 *
 * Offsets are consecutive integers in-process (`1`, `2`, ...) and the Redis ids on a backplane
 * (`0-1`, `0-2`, ...: global across processes). Each message is prefixed once, into one Buffer
 * that the log and every member's queue share.
 */
import { parseStreamId, streamId } from '../backplane/types.js';

/** One logged message: the bytes every member is sent (offset prefix included). */
export interface LoggedMessage {
  readonly bytes: Buffer;
  readonly binary: boolean;
  readonly byteLength: number;
}

/** The JSON after `gap ` (the same facts as an SSE Channel's `gap` event). */
export interface GapNotice {
  /** The offset the client gave (as given). */
  after: string;
  /** The oldest offset the log still has (what follows the notice starts there), or null. */
  oldest: string | null;
  /** The room's last offset when the notice was made. */
  last: string;
  /** 'too-old': trimmed from the log; 'unknown-offset': never given here; 'reset': the backplane's stream was replaced. */
  reason: 'too-old' | 'unknown-offset' | 'reset';
}

const DECIMAL = /^\d{1,15}$/;
const SPACE = Buffer.from(' ');

/** The offset text of `seq`: a decimal in-process, the Redis id on a backplane. */
export function offsetText(seq: number, shared: boolean): string {
  return shared ? streamId(seq) : String(seq);
}

/** The seq of an offset a client gave, or null when it is not one this room could have made. */
export function parseOffset(offset: string, shared: boolean): number | null {
  if (shared) return parseStreamId(offset);
  return DECIMAL.test(offset) ? Number(offset) : null;
}

export function logged(seq: number, shared: boolean, payload: string | Uint8Array, binary: boolean): LoggedMessage {
  const head = Buffer.from(offsetText(seq, shared), 'latin1');
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const bytes = Buffer.concat([head, SPACE, body]);
  return { bytes, binary, byteLength: bytes.length };
}

export function gapMessage(notice: GapNotice): LoggedMessage {
  const bytes = Buffer.from(`gap ${JSON.stringify(notice)}`);
  return { bytes, binary: false, byteLength: bytes.length };
}
