/**
 * Route table: static paths in a Map (one lookup for the common case), paths with
 * `:params` or a trailing `*` in a segment trie. At every segment a static child is
 * tried before a param, and a param before a wildcard, backtracking when a branch
 * fails, so the most specific route wins.
 *
 * Paths are matched as received (still percent-encoded); param values are decoded.
 * `/a` and `/a/` are different paths.
 */
import { HttpError } from './errors.js';

/** The method key under which `app.all` routes are stored. */
export const ANY_METHOD = '*';

export type Params = Record<string, string>;

export type RouteMatch<H, O = unknown> =
  | { readonly kind: 'found'; readonly handler: H; readonly params: Params; readonly options?: O; readonly pattern?: string }
  /** Some route matches the path but none the method; `allow` is the sorted `Allow` value. */
  | { readonly kind: 'method-not-allowed'; readonly allow: string }
  | { readonly kind: 'not-found' };

/** The routes registered for one path pattern, by method. */
interface Leaf<H> {
  readonly pattern: string;
  readonly methods: Map<string, H>;
  /** Route options by method, for routes registered with some. */
  readonly options: Map<string, unknown>;
  /** Param names in path order (`*` for the wildcard). */
  readonly paramNames: readonly string[];
}

interface Node<H> {
  readonly statics: Map<string, Node<H>>;
  param: Node<H> | null;
  wildcard: Leaf<H> | null;
  leaf: Leaf<H> | null;
}

const NOT_FOUND = { kind: 'not-found' } as const;
const PARAM_NAME = /^[A-Za-z_$][\w$]*$/;

function newNode<H>(): Node<H> {
  return { statics: new Map(), param: null, wildcard: null, leaf: null };
}

export class Router<H, O = unknown> {
  private readonly staticRoutes = new Map<string, Leaf<H>>();
  private readonly root: Node<H> = newNode();

  /** Registers `handler` (and its route `options`) for `method` (uppercase, or ANY_METHOD) on `path`. */
  add(method: string, path: string, handler: H, options?: O): void {
    const segments = parsePattern(path);
    const leaf = segments.some((s) => s.startsWith(':') || s === '*') ? this.dynamicLeaf(path, segments) : this.staticLeaf(path);
    if (leaf.methods.has(method)) {
      throw new Error(`Route ${method === ANY_METHOD ? 'ALL' : method} ${path} is already registered`);
    }
    leaf.methods.set(method, handler);
    if (options !== undefined) leaf.options.set(method, options);
  }

  /** The route for `method` on `path`, or why there is none. HEAD falls back to GET, then to `all`. */
  find(method: string, path: string): RouteMatch<H, O> {
    const leaf = this.staticRoutes.get(path);
    if (leaf !== undefined) {
      const key = pick(leaf.methods, method);
      if (key !== undefined) return found(leaf, key, Object.create(null) as Params);
    }
    const values: string[] = [];
    const hit = this.match(this.root, path, 1, values, (l) => pick(l.methods, method) !== undefined);
    if (hit !== null) return found(hit, pick(hit.methods, method)!, toParams(hit.paramNames, values));
    if (leaf === undefined && this.match(this.root, path, 1, [], () => true) === null) return NOT_FOUND;
    return { kind: 'method-not-allowed', allow: this.allowed(path, leaf) };
  }

  /** Sorted methods of every route matching `path` (GET implies HEAD), for `Allow`. */
  private allowed(path: string, staticLeaf: Leaf<H> | undefined): string {
    const methods = new Set<string>();
    const collect = (l: Leaf<H>): boolean => {
      for (const m of l.methods.keys()) methods.add(m);
      return false; // keep searching: every matching route contributes
    };
    if (staticLeaf !== undefined) collect(staticLeaf);
    this.match(this.root, path, 1, [], collect);
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort().join(', ');
  }

  /**
   * Depth-first search from `node` for a leaf matching `path` from index `start`
   * that `accept`s; `values` collects param values along the way.
   */
  private match(node: Node<H>, path: string, start: number, values: string[], accept: (leaf: Leaf<H>) => boolean): Leaf<H> | null {
    if (start > path.length) return node.leaf !== null && accept(node.leaf) ? node.leaf : null;
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const segment = path.slice(start, end);
    const next = end + 1;

    const child = node.statics.get(segment);
    if (child !== undefined) {
      const leaf = this.match(child, path, next, values, accept);
      if (leaf !== null) return leaf;
    }
    if (node.param !== null && segment !== '') {
      values.push(segment);
      const leaf = this.match(node.param, path, next, values, accept);
      if (leaf !== null) return leaf;
      values.pop();
    }
    if (node.wildcard !== null && accept(node.wildcard)) {
      values.push(path.slice(start));
      return node.wildcard;
    }
    return null;
  }

  private staticLeaf(path: string): Leaf<H> {
    let leaf = this.staticRoutes.get(path);
    if (leaf === undefined) {
      leaf = { pattern: path, methods: new Map(), options: new Map(), paramNames: [] };
      this.staticRoutes.set(path, leaf);
    }
    return leaf;
  }

  private dynamicLeaf(path: string, segments: readonly string[]): Leaf<H> {
    const names: string[] = [];
    let node = this.root;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '*') {
        names.push('*');
        node.wildcard = this.sameShape({ pattern: path, methods: new Map(), options: new Map(), paramNames: names }, node.wildcard);
        return node.wildcard;
      }
      if (segment.startsWith(':')) {
        names.push(segment.slice(1));
        node = node.param ??= newNode();
      } else {
        let child = node.statics.get(segment);
        if (child === undefined) node.statics.set(segment, (child = newNode()));
        node = child;
      }
    }
    node.leaf = this.sameShape({ pattern: path, methods: new Map(), options: new Map(), paramNames: names }, node.leaf);
    return node.leaf;
  }

  /** Reuses the existing leaf of a pattern; two patterns that differ only in param names would be ambiguous. */
  private sameShape(fresh: Leaf<H>, existing: Leaf<H> | null): Leaf<H> {
    if (existing === null) return fresh;
    if (existing.paramNames.join('/') !== fresh.paramNames.join('/')) {
      throw new Error(`Route ${fresh.pattern} conflicts with ${existing.pattern}: same shape, different param names`);
    }
    return existing;
  }
}

/** The method key of the route serving `method`: itself, GET for HEAD, then `all`. */
function pick<H>(methods: Map<string, H>, method: string): string | undefined {
  if (methods.has(method)) return method;
  if (method === 'HEAD' && methods.has('GET')) return 'GET';
  return methods.has(ANY_METHOD) ? ANY_METHOD : undefined;
}

function found<H, O>(leaf: Leaf<H>, key: string, params: Params): RouteMatch<H, O> {
  const options = leaf.options.get(key) as O | undefined;
  const handler = leaf.methods.get(key)!;
  const pattern = leaf.pattern;
  return options === undefined ? { kind: 'found', handler, params, pattern } : { kind: 'found', handler, params, options, pattern };
}

/** Validates a route pattern and splits it into segments (the leading '/' dropped). */
function parsePattern(path: unknown): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`Route path must be a string starting with '/', got ${JSON.stringify(path)}`);
  }
  if (/[?#\s]/.test(path)) throw new TypeError(`Route path ${JSON.stringify(path)} must not contain '?', '#' or whitespace`);
  const segments = path.slice(1).split('/');
  const seen = new Set<string>();
  segments.forEach((segment, i) => {
    if (segment === '*') {
      if (i !== segments.length - 1) throw new TypeError(`Route path ${path}: '*' is only allowed as the last segment`);
    } else if (segment.startsWith(':')) {
      const name = segment.slice(1);
      if (!PARAM_NAME.test(name)) throw new TypeError(`Route path ${path}: invalid param name ${JSON.stringify(name)}`);
      if (seen.has(name)) throw new TypeError(`Route path ${path}: duplicate param name "${name}"`);
      seen.add(name);
    } else if (segment.includes('*') || segment.includes(':')) {
      throw new TypeError(`Route path ${path}: ':' and '*' must start a segment of their own`);
    }
  });
  return segments;
}

function toParams(names: readonly string[], values: readonly string[]): Params {
  const params: Params = Object.create(null);
  for (let i = 0; i < names.length; i++) params[names[i]!] = decode(values[i]!);
  return params;
}

function decode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw new HttpError(400, 'Malformed percent-encoding in the request path');
  }
}
