/** Field quoting (RFC 4180) and record framing without a server. */
import { expect } from 'chai';
import { csvField, csvLine, encodeRecords } from '../../ts/index.js';

describe('formats: csv fields and record framing', () => {
  it('quotes fields with the delimiter, quotes, CR or LF and doubles inner quotes', () => {
    expect(csvField('plain')).to.equal('plain');
    expect(csvField('a,b')).to.equal('"a,b"');
    expect(csvField('say "hi"')).to.equal('"say ""hi"""');
    expect(csvField('a\nb')).to.equal('"a\nb"');
    expect(csvField('a\rb')).to.equal('"a\rb"');
    expect(csvField('a;b', ';')).to.equal('"a;b"');
    expect(csvField('a,b', ';')).to.equal('a,b');
    expect(csvField(null)).to.equal('');
    expect(csvField(undefined)).to.equal('');
    expect(csvField(12.5)).to.equal('12.5');
    expect(csvLine(['a', 'b,c', 1])).to.equal('a,"b,c",1\r\n');
  });

  it('frames sync records in ~16 KiB chunks that end on record boundaries', () => {
    const chunks = [...(encodeRecords(Array.from({ length: 5000 }, (_, i) => i), (i) => `${i}\n`, { start: '<', end: '>' }) as Iterable<string>)];
    expect(chunks.length).to.be.greaterThan(1);
    for (const c of chunks.slice(0, -1)) expect(c.endsWith('\n')).to.equal(true);
    const all = chunks.join('');
    expect(all.startsWith('<0\n1\n')).to.equal(true);
    expect(all.endsWith('4999\n>')).to.equal(true);
  });

  it('frames an empty source with start and end only', async () => {
    expect([...(encodeRecords([], String, { start: '[', separator: ',', end: ']' }) as Iterable<string>)]).to.deep.equal(['[]']);
    const out: string[] = [];
    for await (const c of encodeRecords((async function* () {})(), String, { start: '[', separator: ',', end: ']' }) as AsyncIterable<string>) out.push(c);
    expect(out.join('')).to.equal('[]');
  });
});
