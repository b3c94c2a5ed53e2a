/**
 * The delay before a dead worker is started again: `initial` ms doubling per death up to `max`,
 * back to `initial` once a worker has stayed up for `stableAfter` ms.
 */
export class Backoff {
  private failures = 0;

  constructor(private readonly initial: number, private readonly max: number, private readonly stableAfter: number) {}

  /** The delay after a death of a worker that was up for `upMs` (0 if it never became ready). */
  next(upMs: number): number {
    if (upMs >= this.stableAfter) this.failures = 0;
    const delay = Math.min(this.max, this.initial * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return delay;
  }
}
