/** Router: matching order, params, wildcards, 404 vs 405, HEAD fallback, pattern validation. */
import { expect } from 'chai';
import { HttpError } from '../../ts/errors.js';
import { ANY_METHOD, Router, type RouteMatch } from '../../ts/router.js';

function found<H>(match: RouteMatch<H>): { handler: H; params: Record<string, string> } {
  if (match.kind !== 'found') throw new Error(`expected a match, got ${match.kind}`);
  return { handler: match.handler, params: { ...match.params } };
}

describe('Router', () => {
  describe('static routes', () => {
    it('matches exact paths only', () => {
      const r = new Router<string>();
      r.add('GET', '/', 'root');
      r.add('GET', '/a/b', 'ab');
      expect(found(r.find('GET', '/')).handler).to.equal('root');
      expect(found(r.find('GET', '/a/b')).handler).to.equal('ab');
      expect(r.find('GET', '/a')).to.deep.equal({ kind: 'not-found' });
      expect(r.find('GET', '/a/b/c')).to.deep.equal({ kind: 'not-found' });
    });

    it('treats a trailing slash as a different path', () => {
      const r = new Router<string>();
      r.add('GET', '/a', 'no-slash');
      r.add('GET', '/a/', 'slash');
      expect(found(r.find('GET', '/a')).handler).to.equal('no-slash');
      expect(found(r.find('GET', '/a/')).handler).to.equal('slash');
      const d = new Router<string>();
      d.add('GET', '/u/:id', 'u');
      expect(d.find('GET', '/u/1/').kind).to.equal('not-found');
    });

    it('gives static routes empty, mutable params', () => {
      const r = new Router<string>();
      r.add('GET', '/x', 'x');
      const m = r.find('GET', '/x');
      if (m.kind !== 'found') throw new Error('no match');
      expect(Object.keys(m.params)).to.have.length(0);
      m.params.extra = '1';
      expect(m.params.extra).to.equal('1');
    });
  });

  describe('params and wildcards', () => {
    it('captures named params', () => {
      const r = new Router<string>();
      r.add('GET', '/users/:id/posts/:postId', 'post');
      expect(found(r.find('GET', '/users/42/posts/7')).params).to.deep.equal({ id: '42', postId: '7' });
    });

    it('percent-decodes params', () => {
      const r = new Router<string>();
      r.add('GET', '/files/:name', 'f');
      expect(found(r.find('GET', '/files/a%20b%2Fc')).params).to.deep.equal({ name: 'a b/c' });
      expect(found(r.find('GET', '/files/caf%C3%A9')).params).to.deep.equal({ name: 'café' });
    });

    it('answers malformed percent-encoding with HttpError 400', () => {
      const r = new Router<string>();
      r.add('GET', '/files/:name', 'f');
      expect(() => r.find('GET', '/files/%E0%A4%A')).to.throw(HttpError).with.property('status', 400);
    });

    it('does not match an empty param segment', () => {
      const r = new Router<string>();
      r.add('GET', '/users/:id', 'u');
      expect(r.find('GET', '/users/').kind).to.equal('not-found');
    });

    it('puts the rest of the path in params["*"]', () => {
      const r = new Router<string>();
      r.add('GET', '/files/*', 'files');
      expect(found(r.find('GET', '/files/a/b/c.txt')).params).to.deep.equal({ '*': 'a/b/c.txt' });
      expect(found(r.find('GET', '/files/')).params).to.deep.equal({ '*': '' });
      expect(found(r.find('GET', '/files/a%20b')).params).to.deep.equal({ '*': 'a b' });
      expect(r.find('GET', '/files').kind).to.equal('not-found');
    });

    it('combines params with a wildcard', () => {
      const r = new Router<string>();
      r.add('GET', '/repos/:owner/*', 'tree');
      expect(found(r.find('GET', '/repos/me/src/x.ts')).params).to.deep.equal({ owner: 'me', '*': 'src/x.ts' });
    });

    it('allows different param names on different branches', () => {
      const r = new Router<string>();
      r.add('GET', '/a/:x/one', 'one');
      r.add('GET', '/a/:y/two', 'two');
      expect(found(r.find('GET', '/a/1/one')).params).to.deep.equal({ x: '1' });
      expect(found(r.find('GET', '/a/2/two')).params).to.deep.equal({ y: '2' });
    });
  });

  describe('precedence', () => {
    const r = new Router<string>();
    r.add('GET', '/users/*', 'wildcard');
    r.add('GET', '/users/:id', 'param');
    r.add('GET', '/users/me', 'static');
    r.add('GET', '/users/:id/edit', 'param-edit');
    r.add('GET', '/users/me/settings', 'static-settings');

    it('prefers static over param over wildcard', () => {
      expect(found(r.find('GET', '/users/me')).handler).to.equal('static');
      expect(found(r.find('GET', '/users/42')).handler).to.equal('param');
      expect(found(r.find('GET', '/users/42/photos')).handler).to.equal('wildcard');
    });

    it('backtracks from a static branch that fails deeper', () => {
      expect(found(r.find('GET', '/users/me/edit'))).to.deep.equal({ handler: 'param-edit', params: { id: 'me' } });
      expect(found(r.find('GET', '/users/me/settings')).handler).to.equal('static-settings');
      expect(found(r.find('GET', '/users/me/other')).params).to.deep.equal({ '*': 'me/other' });
    });

    it('falls through to a less specific route that has the method', () => {
      const m = new Router<string>();
      m.add('GET', '/items/new', 'form');
      m.add('POST', '/items/:id', 'update');
      expect(found(m.find('POST', '/items/new'))).to.deep.equal({ handler: 'update', params: { id: 'new' } });
    });
  });

  describe('methods', () => {
    it('answers 405 with a sorted Allow of every matching route', () => {
      const r = new Router<string>();
      r.add('POST', '/things/:id', 'post');
      r.add('GET', '/things/special', 'get');
      r.add('DELETE', '/things/*', 'del');
      expect(r.find('PUT', '/things/special')).to.deep.equal({ kind: 'method-not-allowed', allow: 'DELETE, GET, HEAD, POST' });
      expect(r.find('PUT', '/things/1')).to.deep.equal({ kind: 'method-not-allowed', allow: 'DELETE, POST' });
      expect(r.find('PUT', '/nothing')).to.deep.equal({ kind: 'not-found' });
    });

    it('answers HEAD with the GET route unless a HEAD route exists', () => {
      const r = new Router<string>();
      r.add('GET', '/a', 'get-a');
      r.add('GET', '/b', 'get-b');
      r.add('HEAD', '/b', 'head-b');
      r.add('GET', '/c/:id', 'get-c');
      expect(found(r.find('HEAD', '/a')).handler).to.equal('get-a');
      expect(found(r.find('HEAD', '/b')).handler).to.equal('head-b');
      expect(found(r.find('HEAD', '/c/1')).handler).to.equal('get-c');
      expect(r.find('HEAD', '/a').kind).to.equal('found');
    });

    it('uses `all` routes for any method, after specific ones', () => {
      const r = new Router<string>();
      r.add(ANY_METHOD, '/any', 'all');
      r.add('GET', '/any', 'get');
      expect(found(r.find('GET', '/any')).handler).to.equal('get');
      expect(found(r.find('PATCH', '/any')).handler).to.equal('all');
      expect(found(r.find('HEAD', '/any')).handler).to.equal('get');
    });
  });

  describe('registration', () => {
    it('rejects paths not starting with "/" with a TypeError naming the path', () => {
      const r = new Router<string>();
      expect(() => r.add('GET', 'users', 'x')).to.throw(TypeError, /Route path must be a string starting with '\/', got "users"/);
      expect(() => r.add('GET', '', 'x')).to.throw(TypeError);
    });

    it('rejects malformed patterns', () => {
      const r = new Router<string>();
      expect(() => r.add('GET', '/a/*/b', 'x')).to.throw(TypeError, /last segment/);
      expect(() => r.add('GET', '/a/:', 'x')).to.throw(TypeError, /invalid param name/);
      expect(() => r.add('GET', '/a/:id/:id', 'x')).to.throw(TypeError, /duplicate param/);
      expect(() => r.add('GET', '/a/b:c', 'x')).to.throw(TypeError, /own/);
      expect(() => r.add('GET', '/a?b', 'x')).to.throw(TypeError, /'\?'/);
    });

    it('rejects duplicate routes and ambiguous param names', () => {
      const r = new Router<string>();
      r.add('GET', '/a/:id', 'x');
      expect(() => r.add('GET', '/a/:id', 'y')).to.throw(Error, /already registered/);
      expect(() => r.add('POST', '/a/:name', 'y')).to.throw(Error, /conflicts/);
      r.add('GET', '/s', 'x');
      expect(() => r.add('GET', '/s', 'y')).to.throw(Error, /already registered/);
    });
  });
});
