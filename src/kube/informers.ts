// A program's informers, started together: one call per program instead of one wiring each.
// The set answers what every program asks of its watches: are they synced (for start-up), are
// they current (the NMI's "fresh or nothing"), should /readyz say ready (no watch broken for
// long), did anything change, and when is the next periodic resync.
import type { KubeConfig } from "@kubernetes/client-node";
import { WATCH } from "../model/constants.ts";
import { startInformerCache, type CacheOptions, type InformerCache, type WatchHealth } from "./cache.ts";

export type Caches<V> = { [K in keyof V]: InformerCache<V[K]> };

export interface InformerSetOptions {
  onError?: (resource: string, err: unknown) => void;
  /** Calls the `onResync` listeners this often (level-triggered controllers re-check everything). */
  resyncMs?: number;
}

export interface InformerSet<V> {
  caches: Caches<V>;
  /** Every informer has listed once. */
  synced(): boolean;
  health(): Array<WatchHealth & { name: string }>;
  /** The named informers (default all) are watching now: what they hold is current. */
  watching(names?: ReadonlyArray<keyof V>): boolean;
  /** For /readyz: synced, and no watch has been broken for longer than `unreadyAfterMs`. */
  ready(unreadyAfterMs?: number): boolean;
  /** Calls `cb` after any change in any informer; returns the unsubscribe function. */
  onChange(cb: () => void): () => void;
  onResync(cb: () => void): () => void;
  stop(): Promise<void>;
}

export async function startInformers<V extends object>(
  kc: KubeConfig,
  specs: { [K in keyof V]: CacheOptions<V[K]> },
  opts: InformerSetOptions = {},
): Promise<InformerSet<V>> {
  const names = Object.keys(specs) as Array<keyof V & string>;
  const started = await Promise.allSettled(
    names.map((n) =>
      startInformerCache(kc, {
        ...specs[n],
        onError: specs[n].onError ?? ((err: unknown) => opts.onError?.(specs[n].plural, err)),
      }),
    ),
  );
  const caches = {} as Caches<V>;
  started.forEach((r, i) => {
    if (r.status === "fulfilled") caches[names[i]!] = r.value;
  });
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(Object.values<InformerCache<unknown>>(caches).map((c) => c.stop()));
    throw failed.reason;
  }
  return informerSet(caches, names, opts);
}

function informerSet<V>(caches: Caches<V>, names: Array<keyof V & string>, opts: InformerSetOptions): InformerSet<V> {
  const all = (): Array<[keyof V & string, InformerCache<unknown>]> =>
    names.map((n) => [n, caches[n] as InformerCache<unknown>]);
  const resyncers = new Set<() => void>();
  const timer =
    opts.resyncMs !== undefined ? setInterval(() => resyncers.forEach((cb) => cb()), opts.resyncMs) : undefined;
  timer?.unref();
  return {
    caches,
    synced: () => all().every(([, c]) => c.synced),
    health: () => all().map(([name, c]) => ({ name, ...c.health() })),
    watching: (only) => all().every(([n, c]) => (only !== undefined && !only.includes(n)) || c.health().watching),
    ready(unreadyAfterMs = WATCH.unreadyAfterMs) {
      const now = Date.now();
      return all().every(([, c]) => {
        const h = c.health();
        return c.synced && (h.watching || now - h.since < unreadyAfterMs);
      });
    },
    onChange(cb) {
      const offs = all().map(([, c]) => c.on(() => cb()));
      return () => offs.forEach((off) => off());
    },
    onResync(cb) {
      resyncers.add(cb);
      return () => resyncers.delete(cb);
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      await Promise.all(all().map(([, c]) => c.stop()));
    },
  };
}
