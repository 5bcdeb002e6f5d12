// IMDS's per-VM limits: at most N requests in any one-second window and M at the same time.
// Refused requests do not count against the window.
export class ImdsLimiter {
  #times: number[] = [];
  #inFlight = 0;
  constructor(
    private readonly perSecond: number,
    private readonly concurrent: number,
  ) {}

  /** True when the request may proceed; the caller must then call release(). */
  tryAcquire(now: number): boolean {
    while (this.#times.length > 0 && this.#times[0]! <= now - 1000) this.#times.shift();
    if (this.#times.length >= this.perSecond || this.#inFlight >= this.concurrent) return false;
    this.#times.push(now);
    this.#inFlight += 1;
    return true;
  }

  release(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
  }
}
