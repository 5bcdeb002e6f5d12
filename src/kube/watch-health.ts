// The health of the program's list-watches, kept by the watch layer (cache.ts) and read by the
// metrics at scrape time. A watch is healthy from its first successful list until it fails,
// and again once the restart's relist succeeds; while it is not, the cache still answers, but
// from what it saw last. One tracker per process: a process runs one podid program.

export interface TrackedWatch {
  /** After a successful (re)list: the cache is current again. */
  up(): void;
  /** After a failure: the cache answers from what it saw last until the restart succeeds. */
  failed(): void;
  /** The cache was stopped: no longer reported. */
  close(): void;
  readonly healthy: boolean;
}

export interface ResourceHealth {
  resource: string;
  /** Every watch of the resource is healthy. */
  healthy: boolean;
  /** Failures since the process started, including of watches since closed. */
  failures: number;
}

export class WatchHealthTracker {
  private readonly open = new Set<{ resource: string; healthy: boolean }>();
  private readonly failures = new Map<string, number>();

  track(resource: string): TrackedWatch {
    const w = { resource, healthy: false };
    this.open.add(w);
    if (!this.failures.has(resource)) this.failures.set(resource, 0);
    return {
      up: () => void (w.healthy = true),
      failed: () => {
        w.healthy = false;
        this.failures.set(resource, (this.failures.get(resource) ?? 0) + 1);
      },
      close: () => void this.open.delete(w),
      get healthy() {
        return w.healthy;
      },
    };
  }

  byResource(): ResourceHealth[] {
    const healthy = new Map<string, boolean>();
    for (const w of this.open) healthy.set(w.resource, (healthy.get(w.resource) ?? true) && w.healthy);
    return [...this.failures]
      .filter(([resource]) => healthy.has(resource))
      .map(([resource, failures]) => ({ resource, healthy: healthy.get(resource)!, failures }))
      .sort((a, b) => a.resource.localeCompare(b.resource));
  }
}

export const watchHealth = new WatchHealthTracker();
