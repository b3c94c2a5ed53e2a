/**
 * SSE serialization: multi-line data, field injection, comments; checked by parsing
 * the output with a WHATWG-rules parser.
 */
import { expect } from 'chai';
import { serializeComment, serializeEvent } from '../../ts/index.js';
import { EventParser } from '../helpers/sse-client.js';

const parse = (text: string) => {
  const p = new EventParser();
  p.feed(text);
  return p;
};

describe('sse: event serialization', () => {
  it('writes event, id, retry and data fields and ends with an empty line', () => {
    const text = serializeEvent({ event: 'tick', id: 7, retry: 1500, data: 'hello' });
    expect(text).to.equal('event: tick\nid: 7\nretry: 1500\ndata: hello\n\n');
    const p = parse(text);
    expect(p.events).to.deep.equal([{ event: 'tick', data: 'hello', id: '7', retry: 1500 }]);
  });

  it('splits data on CRLF, CR and LF into data: lines', () => {
    const text = serializeEvent({ data: 'a\r\nb\rc\nd' });
    expect(text).to.equal('data: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(parse(text).events[0]!.data).to.equal('a\nb\nc\nd');
    expect(serializeEvent('x\n\ny')).to.equal('data: x\ndata: \ndata: y\n\n');
  });

  it('sends non-string data as JSON, a string as data', () => {
    expect(serializeEvent({ data: { a: [1, 'b\nc'] } })).to.equal('data: {"a":[1,"b\\nc"]}\n\n');
    expect(serializeEvent('plain')).to.equal('data: plain\n\n');
  });

  it('rejects CR or LF in event and id, NUL in id, and a bad retry', () => {
    expect(() => serializeEvent({ event: 'a\nb', data: 'x' })).to.throw(TypeError, /event must not contain CR or LF/);
    expect(() => serializeEvent({ event: 'a\rdata: injected', data: 'x' })).to.throw(TypeError, /CR or LF/);
    expect(() => serializeEvent({ id: '1\r\n', data: 'x' })).to.throw(TypeError, /id must not contain CR or LF/);
    expect(() => serializeEvent({ id: 'a\0b', data: 'x' })).to.throw(TypeError, /NUL/);
    expect(() => serializeEvent({ retry: -1 })).to.throw(TypeError, /retry/);
    expect(() => serializeEvent({ retry: 1.5 })).to.throw(TypeError, /retry/);
    expect(() => serializeEvent({})).to.throw(TypeError, /at least one/);
    expect(() => serializeEvent({ data: undefined, event: undefined } as never)).to.throw(TypeError);
  });

  it('writes comments, multi-line ones as several comment lines', () => {
    expect(serializeComment()).to.equal(':\n\n');
    expect(serializeComment('hi')).to.equal(': hi\n\n');
    expect(serializeComment('a\nb')).to.equal(': a\n: b\n\n');
    const p = parse(serializeComment('a\r\nb') + serializeEvent('x'));
    expect(p.comments).to.deep.equal(['a', 'b']);
    expect(p.events).to.have.length(1);
  });
});
