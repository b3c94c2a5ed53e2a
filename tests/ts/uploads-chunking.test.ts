/**
 * MultipartReader fed body chunks cut at chosen places (no socket: the cut points are exact).
 * Inside a file part the header guard skips the chunks the parser hands whole to the part, so
 * the chunks around the next delimiter and header block are the ones that matter: every cut
 * from a little before the delimiter to a little after the header block must give the same
 * outcome (the parts byte-exact, a 413 for a header block over headerSize, a 400 for a malformed
 * header line).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { MultipartReader, type UploadLimits } from '../../ts/index.js';
import { MULTIPART_TYPE, multipartBody, partHead, patterned, type BodyPart } from '../helpers/multipart-body.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The body as 64 KiB chunks up to `cut`, then the rest in 64 KiB chunks. */
function chunked(body: Buffer, cut: number): Buffer[] {
  const out: Buffer[] = [];
  for (const [from, to] of [[0, cut], [cut, body.length]] as const) {
    for (let o = from; o < to; o += 65536) out.push(body.subarray(o, Math.min(o + 65536, to)));
  }
  return out;
}

async function readAll(chunks: Buffer[], limits?: UploadLimits): Promise<Array<{ name: string; size: number; sha256: string }>> {
  const req = {
    header: (name: string) => (name === 'content-type' ? MULTIPART_TYPE : undefined),
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) yield c;
    },
  };
  const out: Array<{ name: string; size: number; sha256: string }> = [];
  for await (const part of new MultipartReader(req, limits)) {
    if (part.kind === 'field') continue;
    const got: Buffer[] = [];
    for await (const c of part) got.push(c);
    const all = Buffer.concat(got);
    out.push({ name: part.name, size: all.length, sha256: sha(all) });
  }
  return out;
}

describe('uploads: a body cut anywhere around a part boundary', function () {
  this.timeout(60_000);

  const big = patterned(200_000, 3);
  const first: BodyPart = { name: 'big', filename: 'big.bin', data: big };
  /** Where the second part's delimiter line starts in the body (after the first part's CRLF). */
  const secondAt = partHead(first).length + big.length;

  const cases: Array<{ what: string; second: BodyPart; check(outcome: unknown): void }> = [
    {
      what: 'a valid second part: both parts byte-exact',
      second: { name: 'small', filename: 's.bin', data: Buffer.from('second part') },
      check: (outcome) =>
        expect(outcome).to.deep.equal([
          { name: 'big', size: big.length, sha256: sha(big) },
          { name: 'small', size: 11, sha256: sha(Buffer.from('second part')) },
        ]),
    },
    {
      what: 'a second header block over headerSize: 413',
      second: { name: 'h', filename: 'h', data: Buffer.from('x'), headers: [`X-Pad: ${'p'.repeat(300)}`] },
      check: (outcome) => expect(outcome).to.include({ status: 413, limit: 'headerSize' }),
    },
    {
      what: 'a malformed second header line: 400',
      second: { name: 'h', filename: 'h', data: Buffer.from('x'), headers: ['Bad Header Line'] },
      check: (outcome) => expect(outcome).to.include({ status: 400, message: 'malformed form body: a part header is malformed' }),
    },
  ];

  for (const c of cases) {
    it(c.what, async () => {
      const body = multipartBody([first, c.second]);
      const end = secondAt + partHead(c.second).length + 4;
      for (let cut = secondAt - 4; cut <= end; cut++) {
        let outcome: unknown;
        try {
          outcome = await readAll(chunked(body, cut), { headerSize: 300 });
        } catch (err) {
          const e = err as { status?: number; limit?: string; message?: string };
          outcome = { status: e.status, limit: e.limit, message: e.message };
        }
        try {
          c.check(outcome);
        } catch (err) {
          throw new Error(`cut at ${cut} (the second part's delimiter at ${secondAt}): ${(err as Error).message}`);
        }
      }
    });
  }

  it('the closing delimiter cut anywhere: the body is complete (not a truncation)', async () => {
    const body = multipartBody([first]);
    for (let cut = secondAt - 4; cut <= body.length; cut++) {
      expect(await readAll(chunked(body, cut)), `cut at ${cut}`).to.deep.equal([{ name: 'big', size: big.length, sha256: sha(big) }]);
    }
  });
});
