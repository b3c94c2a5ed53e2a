/**
 * The replay ring of a Channel (and the log of a resumable WebSocket room): the last events,
 * each with its sequence number and its serialized bytes (the very Buffer subscribers were
 * sent), bounded by a count and a byte budget. Sequence numbers are consecutive, so a lookup is
 * arithmetic (a Channel or room on a backplane keeps the seq of the Redis id 0-<seq>,
 * consecutive too).
 */

export class ReplayRing<T extends { readonly byteLength: number } = Buffer> {
  private readonly seqs: number[] = [];
  private readonly bufs: T[] = [];
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.count;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** The oldest sequence number kept, or null when empty. */
  get oldest(): number | null {
    return this.count === 0 ? null : this.seqs[this.head]!;
  }

  push(seq: number, buf: T): void {
    if (this.capacity === 0) return;
    if (this.count === this.capacity) this.shift();
    const tail = (this.head + this.count) % this.capacity;
    this.seqs[tail] = seq;
    this.bufs[tail] = buf;
    this.count++;
    this.bytes += buf.byteLength;
    while (this.bytes > this.maxBytes && this.count > 1) this.shift();
  }

  /** Events with a sequence number above `after`, oldest first. */
  since(after: number): T[] {
    const out: T[] = [];
    const oldest = this.oldest;
    if (oldest === null) return out;
    const skip = Math.max(0, after - oldest + 1);
    for (let i = skip; i < this.count; i++) out.push(this.bufs[(this.head + i) % this.capacity]!);
    return out;
  }

  /** Forgets every event. */
  clear(): void {
    while (this.count > 0) this.shift();
    this.head = 0;
  }

  private shift(): void {
    const buf = this.bufs[this.head]!;
    this.bytes -= buf.byteLength;
    this.bufs[this.head] = undefined as unknown as T; // let it be collected
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }
}
