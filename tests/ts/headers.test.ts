/** ResponseHeaders: case-insensitive access, wire case kept, repeated fields, validation. */
import { expect } from 'chai';
import { ResponseHeaders } from '../../ts/headers.js';

describe('ResponseHeaders', () => {
  it('looks names up case-insensitively and keeps the given case for the wire', () => {
    const h = new ResponseHeaders();
    h.set('X-Request-ID', 'abc');
    expect(h.get('x-request-id')).to.equal('abc');
    expect(h.has('X-REQUEST-ID')).to.equal(true);
    expect(h.toBlock()).to.equal('X-Request-ID: abc\r\n');
  });

  it('set replaces every spelling; the new spelling wins', () => {
    const h = new ResponseHeaders({ 'content-type': 'a', 'CONTENT-TYPE': 'b' });
    h.set('Content-Type', 'c');
    expect(h.getAll('content-type')).to.deep.equal(['c']);
    expect(h.toBlock()).to.equal('Content-Type: c\r\n');
  });

  it('append keeps separate field lines (Set-Cookie)', () => {
    const h = new ResponseHeaders();
    h.append('Set-Cookie', 'a=1').append('set-cookie', 'b=2');
    expect(h.getAll('SET-COOKIE')).to.deep.equal(['a=1', 'b=2']);
    expect(h.get('set-cookie')).to.equal('a=1, b=2');
    expect(h.size).to.equal(2);
    expect(h.toBlock()).to.equal('Set-Cookie: a=1\r\nset-cookie: b=2\r\n');
  });

  it('delete removes every field of the name and reports whether any existed', () => {
    const h = new ResponseHeaders([['A', '1'], ['a', '2'], ['B', '3']]);
    expect(h.delete('A')).to.equal(true);
    expect(h.delete('a')).to.equal(false);
    expect([...h]).to.deep.equal([['B', '3']]);
    expect(h.get('a')).to.equal(null);
  });

  it('accepts records (with arrays and numbers), pair lists, WHATWG Headers and another collection', () => {
    const fromRecord = new ResponseHeaders({ 'X-N': 5, Vary: ['Accept', 'Origin'], Skip: undefined });
    expect([...fromRecord]).to.deep.equal([['X-N', '5'], ['Vary', 'Accept'], ['Vary', 'Origin']]);
    const whatwg = new Headers([['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    const fromHeaders = new ResponseHeaders(whatwg);
    expect(fromHeaders.get('content-type')).to.equal('text/plain');
    expect(fromHeaders.getAll('set-cookie')).to.deep.equal(['a=1', 'b=2']);
    expect([...new ResponseHeaders(fromRecord)]).to.deep.equal([...fromRecord]);
  });

  it('skips core-managed names when building the block', () => {
    const h = new ResponseHeaders({ 'Content-Length': '3', 'X-A': 'b' });
    expect(h.toBlock(new Set(['content-length']))).to.equal('X-A: b\r\n');
  });

  it('has a null-prototype JSON view', () => {
    const h = new ResponseHeaders(JSON.parse('{"__proto__": "x"}') as Record<string, string>);
    h.append('A', '1').append('a', '2');
    const view = h.toJSON();
    expect(view.a).to.equal('1, 2');
    expect(Object.getPrototypeOf(view)).to.equal(null);
    expect(Object.getOwnPropertyDescriptor(view, '__proto__')?.value).to.equal('x');
  });

  describe('validation', () => {
    for (const [label, value] of [['CR', 'a\rb'], ['LF', 'a\nb'], ['CRLF injection', 'x\r\nSet-Cookie: evil=1'], ['NUL', 'a\0b'], ['DEL', 'a\x7fb']]) {
      it(`rejects a value with ${label} with a TypeError naming the header`, () => {
        const h = new ResponseHeaders();
        expect(() => h.set('X-Bad', value)).to.throw(TypeError, /"X-Bad"/);
        expect(() => h.append('X-Bad', value)).to.throw(TypeError);
        expect(() => new ResponseHeaders({ 'X-Bad': value })).to.throw(TypeError);
        expect(h.size).to.equal(0);
      });
    }

    for (const name of ['', 'Bad Name', 'Bad:Name', 'X-\r\nY', 'X\0', 'Ünicode']) {
      it(`rejects the name ${JSON.stringify(name)}`, () => {
        expect(() => new ResponseHeaders().set(name, 'v')).to.throw(TypeError, /Invalid header name/);
      });
    }

    it('rejects characters the Latin-1 wire encoding cannot carry', () => {
      expect(() => new ResponseHeaders().set('X-Euro', '5 €')).to.throw(TypeError, /U\+00FF/);
    });

    it('allows HTAB and Latin-1 obs-text in values', () => {
      const h = new ResponseHeaders();
      h.set('X-Tab', 'a\tb').set('X-Text', 'café');
      expect(h.get('x-tab')).to.equal('a\tb');
      expect(h.get('x-text')).to.equal('café');
    });

    it('rejects values that are neither strings nor numbers', () => {
      expect(() => new ResponseHeaders().set('X', {} as unknown as string)).to.throw(TypeError, /expected a string or number/);
      expect(() => new ResponseHeaders([['X']] as unknown as [string, string][])).to.throw(TypeError, /pair/);
      expect(() => new ResponseHeaders(42 as unknown as Record<string, string>)).to.throw(TypeError);
    });
  });
});
