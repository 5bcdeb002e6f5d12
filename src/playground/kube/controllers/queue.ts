// A tiny level-triggered work queue for the built-in controllers: events only mark keys dirty;
// one reconcile per key runs at a time, and a key marked while it runs is reconciled again.
export class KeyQueue {
  private readonly dirty = new Set<string>();
  private readonly running = new Set<string>();
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly reconcile: (key: string) => Promise<void>,
    private readonly onError: (key: string, err: unknown) => void,
    /** Reconciles in flight at once (150,000 new pods must not start 150,000 at a time). */
    private readonly maxConcurrent = 64,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.dirty.add(key);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    for (const key of this.dirty) {
      if (this.running.size >= this.maxConcurrent) return;
      if (this.running.has(key)) continue;
      this.dirty.delete(key);
      this.running.add(key);
      this.reconcile(key)
        .catch((err: unknown) => this.onError(key, err))
        .finally(() => {
          this.running.delete(key);
          if (this.dirty.size > 0 && !this.scheduled && !this.stopped) {
            this.scheduled = true;
            setImmediate(() => this.drain());
          }
        });
    }
  }

  stop(): void {
    this.stopped = true;
    this.dirty.clear();
  }
}

/** Runs detached work (fire and forget) with errors reported, never thrown into an event emitter. */
export function detach(fn: () => Promise<unknown>, onError: (err: unknown) => void): void {
  setImmediate(() => {
    fn().catch(onError);
  });
}
