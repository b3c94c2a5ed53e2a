/** Accept-Encoding negotiation (q-values, wildcards, identity) and the media-type filter. */
import { expect } from 'chai';
import { isCompressible, negotiateEncoding } from '../../ts/index.js';

describe('compression: negotiation', () => {
  it('picks the highest q-value, ties going to the server order (br, gzip, deflate)', () => {
    expect(negotiateEncoding('gzip, deflate, br')).to.equal('br');
    expect(negotiateEncoding('gzip;q=1, br;q=0.5')).to.equal('gzip');
    expect(negotiateEncoding('deflate;q=0.9, gzip;q=0.8')).to.equal('deflate');
    expect(negotiateEncoding('gzip, deflate', ['deflate', 'gzip'])).to.equal('deflate');
    expect(negotiateEncoding('*')).to.equal('br');
    expect(negotiateEncoding('*;q=0.5, br;q=0')).to.equal('gzip');
    expect(negotiateEncoding('GZIP')).to.equal('gzip');
  });

  it('answers identity (null) when nothing acceptable is offered', () => {
    expect(negotiateEncoding(undefined)).to.equal(null);
    expect(negotiateEncoding('')).to.equal(null);
    expect(negotiateEncoding('identity')).to.equal(null);
    expect(negotiateEncoding('compress, zstd')).to.equal(null);
    expect(negotiateEncoding('gzip;q=0, br;q=0')).to.equal(null);
    expect(negotiateEncoding('br', ['gzip'])).to.equal(null);
  });

  it('compresses text, JSON, SSE and record formats, not images or archives', () => {
    for (const t of ['text/plain; charset=utf-8', 'text/event-stream', 'application/json; charset=utf-8', 'application/x-ndjson', 'text/csv; charset=utf-8', 'image/svg+xml']) {
      expect(isCompressible(t), t).to.equal(true);
    }
    for (const t of ['image/png', 'image/jpeg', 'application/gzip', 'application/zip', 'video/mp4', 'application/x-unknown-thing', '', null]) {
      expect(isCompressible(t), String(t)).to.equal(false);
    }
  });
});
