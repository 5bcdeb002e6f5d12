// Keeps upstream calls under IMDS's per-VM limits (requests per second and concurrent
// requests). Callers queue in order; nothing is dropped, a call just waits its turn.
export interface LimiterOptions {
  perSecond: number;
  concurrent: number;
  /**
   * The window `perSecond` is counted over. A little over a second by default: IMDS counts
   * when requests arrive, we count when they leave, and the two clocks differ by the
   * network's jitter; a 1000 ms window here let a 21st request land in IMDS's second.
   */
  windowMs?: number;
}

export class UpstreamLimiter {
  private active = 0;
  /** Start times (ms) within the last window. */
  private readonly starts: number[] = [];
  private readonly queue: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  private readonly windowMs: number;

  constructor(private readonly opts: LimiterOptions) {
    if (!(opts.perSecond > 0) || !(opts.concurrent > 0))
      throw new Error("limiter: perSecond and concurrent must be > 0");
    this.windowMs = opts.windowMs ?? 1100;
  }

  get pending(): number {
    return this.queue.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((resolve) => {
      this.queue.push(resolve);
      this.pump();
    });
    try {
      return await fn();
    } finally {
      this.active--;
      this.pump();
    }
  }

  private pump(): void {
    while (this.queue.length > 0 && this.active < this.opts.concurrent) {
      const now = Date.now();
      while (this.starts.length > 0 && this.starts[0]! <= now - this.windowMs) this.starts.shift();
      if (this.starts.length >= this.opts.perSecond) {
        if (this.timer === undefined) {
          const wait = this.starts[0]! + this.windowMs - now + 1;
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, wait);
        }
        return;
      }
      this.starts.push(now);
      this.active++;
      this.queue.shift()!();
    }
  }
}
