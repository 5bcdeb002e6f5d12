// Turns a stream of watch events into few reconciles. Events only kick; a run starts once
// events have paused for the batching window (or at the latest maxDelayMs after the first
// kick, so a steady trickle cannot starve it), so a burst of pods costs one reconcile and one
// write per target. Runs never overlap; a kick during a run schedules another.

export interface BatchTriggerOptions {
  windowMs: number;
  maxDelayMs: number;
  onError: (err: unknown) => void;
}

export class BatchTrigger {
  private firstKickAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAtMs: number | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private stopped = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly opts: BatchTriggerOptions,
  ) {}

  /** Something changed: reconcile soon. */
  kick(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.firstKickAt ??= now;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.opts.windowMs, this.firstKickAt + this.opts.maxDelayMs - now));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  /** Reconcile again at this time (a grace period or a Retry-After ends). Keeps the earliest. */
  wakeAt(at: number): void {
    if (this.stopped || (this.wakeAtMs !== undefined && this.wakeAtMs <= at)) return;
    if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer);
    this.wakeAtMs = at;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeAtMs = undefined;
        this.wakeTimer = undefined;
        this.kick();
      },
      Math.max(0, at - Date.now()),
    );
    this.wakeTimer.unref();
  }

  /** Kicked and not yet run, or running. */
  get busy(): boolean {
    return this.timer !== undefined || this.running !== undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.firstKickAt = undefined;
    if (this.running !== undefined) {
      this.rerun = true;
      return;
    }
    this.running = this.run()
      .catch((err: unknown) => this.opts.onError(err))
      .finally(() => {
        this.running = undefined;
        if (this.rerun) {
          this.rerun = false;
          this.kick();
        }
      });
  }

  /** Stops scheduling and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer);
    this.timer = this.wakeTimer = undefined;
    await this.running;
  }
}

/** Per-target waiting after failures: Retry-After on 429, exponential backoff with jitter otherwise. */
export class PerKeyBackoff {
  private readonly state = new Map<string, { until: number; attempts: number }>();

  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 5 * 60_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** When the key may be tried again, if it must wait. */
  until(key: string, now: number): number | undefined {
    const s = this.state.get(key);
    return s !== undefined && s.until > now ? s.until : undefined;
  }

  throttled(key: string, retryAfterMs: number | undefined, now: number): number {
    const attempts = (this.state.get(key)?.attempts ?? 0) + 1;
    const until = now + (retryAfterMs ?? this.delay(attempts));
    this.state.set(key, { until, attempts });
    return until;
  }

  failed(key: string, now: number): number {
    const attempts = (this.state.get(key)?.attempts ?? 0) + 1;
    const until = now + this.delay(attempts);
    this.state.set(key, { until, attempts });
    return until;
  }

  succeeded(key: string): void {
    this.state.delete(key);
  }

  private delay(attempts: number): number {
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** (attempts - 1));
    return Math.round(exp / 2 + (exp / 2) * this.random());
  }
}
