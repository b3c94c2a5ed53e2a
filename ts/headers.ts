/**
 * Response headers: a small case-insensitive multimap that keeps each name as the
 * application spelled it (it is sent that way) and one entry per field line, so
 * repeated fields such as Set-Cookie stay separate on the wire.
 *
 * Names must be RFC 9110 tokens and values may hold only HTAB, visible ASCII and
 * Latin-1 text; anything else (notably CR, LF, NUL: header injection) throws a
 * TypeError when it is set, not when it is sent.
 */

/** Header value types accepted by the setters. Numbers are stringified. */
export type HeaderValue = string | number;

/** Everything that can initialise a header collection. */
export type HeadersInit =
  | ResponseHeaders
  | Headers
  | Iterable<readonly [string, HeaderValue]>
  | Readonly<Record<string, HeaderValue | readonly HeaderValue[] | undefined>>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, SP, HTAB and obs-text (Latin-1), like Node. The core writes
// the block as Latin-1, so a character above U+00FF could not be sent faithfully anyway.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Throws a TypeError unless `name` is a valid field name; returns it unchanged. */
export function checkHeaderName(name: unknown): string {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new TypeError(`Invalid header name ${JSON.stringify(String(name))}: must be a non-empty RFC 9110 token`);
  }
  return name;
}

/** Throws a TypeError unless `value` is a valid value for header `name`; returns it as a string. */
export function checkHeaderValue(name: string, value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') {
    throw new TypeError(`Invalid value for header "${name}": expected a string or number, got ${typeof value}`);
  }
  if (INVALID_VALUE.test(value)) {
    throw new TypeError(`Invalid value for header "${name}": contains CR, LF, NUL, another control character or a character above U+00FF`);
  }
  return value;
}

/** Response header fields in insertion order; lookups ignore case. */
/** The arrays of a collection with no field yet: shared, never written (copied by the first change). */
const NO_FIELDS: string[] = [];

export class ResponseHeaders implements Iterable<[string, string]> {
  // Parallel arrays: responses carry a handful of fields, so a linear scan beats hashing.
  private names: string[] = NO_FIELDS;
  private keys: string[] = NO_FIELDS;
  private values: string[] = NO_FIELDS;
  /**
   * The arrays are shared (the empty ones, or another collection's after an appendAll into an
   * empty one) and are copied, exactly sized, before the first change. Responses built from one
   * template (a Content-Type, the SSE fields) then hold no arrays of their own, and no lowercase
   * copy of each name: an idle SSE response used to keep three arrays of 17 slots each.
   */
  private shared = true;

  constructor(init?: HeadersInit) {
    if (init !== undefined) this.appendAll(init);
  }

  /** The number of field lines. */
  get size(): number {
    return this.names.length;
  }

  /** All values of `name` joined with ", " (Set-Cookie lines are better read with getAll), or null. */
  get(name: string): string | null {
    const all = this.getAll(name);
    return all.length === 0 ? null : all.join(', ');
  }

  /** Every value of `name`, one per field line. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) out.push(this.values[i]!);
    return out;
  }

  has(name: string): boolean {
    return this.keys.includes(name.toLowerCase());
  }

  /** Replaces every field named `name` (any case) with one field spelled as given. */
  set(name: string, value: HeaderValue): this {
    const checked = checkHeaderValue(checkHeaderName(name), value);
    this.delete(name);
    this.push(name, checked);
    return this;
  }

  /** Adds one more field line, keeping the existing ones. */
  append(name: string, value: HeaderValue): this {
    this.push(name, checkHeaderValue(checkHeaderName(name), value));
    return this;
  }

  /** Removes every field named `name`; returns whether any existed. */
  delete(name: string): boolean {
    const key = name.toLowerCase();
    let found = false;
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] !== key) continue;
      if (this.shared) this.own();
      this.names.splice(i, 1);
      this.keys.splice(i, 1);
      this.values.splice(i, 1);
      found = true;
    }
    return found;
  }

  /** Appends every field of `init` (a record, a list of pairs, a WHATWG Headers or another collection). */
  appendAll(init: HeadersInit): this {
    if (init instanceof ResponseHeaders) {
      if (this.names.length === 0 && init !== this) {
        // Validated already: share its arrays until either side changes (copy on write).
        this.names = init.names;
        this.keys = init.keys;
        this.values = init.values;
        this.shared = init.shared = true;
        return this;
      }
      for (let i = 0; i < init.names.length; i++) this.push(init.names[i]!, init.values[i]!);
    } else if (isWhatwgHeaders(init)) {
      // Iterating a Headers joins nothing but Set-Cookie, which getSetCookie keeps apart.
      init.forEach((value, name) => {
        if (name !== 'set-cookie') this.append(name, value);
      });
      for (const cookie of init.getSetCookie()) this.append('set-cookie', cookie);
    } else if (isIterable(init)) {
      for (const pair of init) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('Invalid headers: each entry must be a [name, value] pair');
        this.append(pair[0], pair[1]);
      }
    } else if (typeof init === 'object' && init !== null) {
      for (const name of Object.keys(init)) {
        const value = init[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value as readonly HeaderValue[]) this.append(name, v);
        else this.append(name, value as HeaderValue);
      }
    } else {
      throw new TypeError(`Invalid headers: expected an object, an iterable of pairs or a Headers, got ${typeof init}`);
    }
    return this;
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (let i = 0; i < this.names.length; i++) yield [this.names[i]!, this.values[i]!];
  }

  forEach(fn: (value: string, name: string) => void): void {
    for (let i = 0; i < this.names.length; i++) fn(this.values[i]!, this.names[i]!);
  }

  /**
   * The `Name: value\r\n` block handed to the core, skipping the lowercase `skip`
   * names (fields the core writes itself). Values were validated when set.
   */
  toBlock(skip?: ReadonlySet<string>): string {
    let block = '';
    for (let i = 0; i < this.names.length; i++) {
      if (skip !== undefined && skip.has(this.keys[i]!)) continue;
      block += this.names[i] + ': ' + this.values[i] + '\r\n';
    }
    return block;
  }

  /** Plain-object view (lowercase names, repeated fields joined), for logging and tests. */
  toJSON(): Record<string, string> {
    // Null prototype: a field named __proto__ must stay a plain property.
    const out: Record<string, string> = Object.create(null);
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i]!;
      out[key] = key in out ? out[key] + ', ' + this.values[i] : this.values[i]!;
    }
    return out;
  }

  private push(name: string, value: string): void {
    if (this.shared) this.own();
    this.names.push(name);
    this.keys.push(name.toLowerCase());
    this.values.push(value);
  }

  /** Takes private copies of shared arrays before a change. */
  private own(): void {
    this.names = this.names.slice();
    this.keys = this.keys.slice();
    this.values = this.values.slice();
    this.shared = false;
  }
}

function isWhatwgHeaders(value: unknown): value is Headers {
  // Shape first: reading the global Headers loads Node's fetch implementation (undici, with
  // http2, tls, crypto and zlib behind it), which plain records and pair lists must not cost.
  if (typeof value !== 'object' || value === null || typeof (value as Headers).getSetCookie !== 'function') return false;
  return typeof Headers === 'function' && value instanceof Headers;
}

function isIterable(value: unknown): value is Iterable<readonly [string, HeaderValue]> {
  return typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';
}
