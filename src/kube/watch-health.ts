// The health of the program's list-watches, kept by the watch layer (list-watch.ts) and read by
// the metrics at scrape time. A watch is healthy while it is open and current: from the moment
// the server accepts it until it fails or answers 410 Gone, and again once a watch is open
// after the resume or relist; while it is not, the cache still answers, but from what it saw
// last. One tracker per process: a process runs one podid program.

export interface TrackedWatch {
  /** A watch is open and current. */
  up(): void;
  /** A failure (a list or watch that ended in an error): counted, and unhealthy until up(). */
  failed(): void;
  /** Unhealthy until up(), without a failure (410 Gone: history older than the server keeps). */
  down(): void;
  /** A list after the first. */
  relisted(): void;
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
  /** Relists since the process started, including of watches since closed. */
  relists: number;
}

export class WatchHealthTracker {
  private readonly open = new Set<{ resource: string; healthy: boolean }>();
  private readonly counts = new Map<string, { failures: number; relists: number }>();

  track(resource: string): TrackedWatch {
    const w = { resource, healthy: false };
    this.open.add(w);
    if (!this.counts.has(resource)) this.counts.set(resource, { failures: 0, relists: 0 });
    const counts = this.counts.get(resource)!;
    return {
      up: () => void (w.healthy = true),
      failed: () => {
        w.healthy = false;
        counts.failures++;
      },
      down: () => void (w.healthy = false),
      relisted: () => void counts.relists++,
      close: () => void this.open.delete(w),
      get healthy() {
        return w.healthy;
      },
    };
  }

  byResource(): ResourceHealth[] {
    const healthy = new Map<string, boolean>();
    for (const w of this.open) healthy.set(w.resource, (healthy.get(w.resource) ?? true) && w.healthy);
    return [...this.counts]
      .filter(([resource]) => healthy.has(resource))
      .map(([resource, c]) => ({ resource, healthy: healthy.get(resource)!, ...c }))
      .sort((a, b) => a.resource.localeCompare(b.resource));
  }
}

export const watchHealth = new WatchHealthTracker();
