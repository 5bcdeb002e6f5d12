// A typed read cache over client-node's list-watch: objects are parsed once, when they
// arrive, and kept by namespace and by any secondary index the caller asks for (bindings by
// selector, pods by IP). Programs read only from here on their hot paths: no API call there.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { kubeRequest, resourcePath } from "./request.ts";
import { watchHealth } from "./watch-health.ts";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: Array<{ field: string; message: string }> };

export interface CacheOptions<T> {
  group: string;
  version: string;
  plural: string;
  parse: (obj: unknown) => ParseResult<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Secondary indexes: name → function giving the keys an object is found under. */
  indexes?: Record<string, (value: T) => string[]>;
  /** How long to keep trying the first list before giving up. */
  syncTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

export type CacheEvent = "add" | "update" | "delete";
export interface InvalidObject {
  namespace?: string;
  name: string;
  errors: Array<{ field: string; message: string }>;
}

export interface InformerCache<T> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
  byIndex(index: string, key: string): T[];
  /** Objects the parser refused, so tools (doctor, logs) can say why they are ignored. */
  invalid(): InvalidObject[];
  /** Subscribes to changes; returns the unsubscribe function. */
  on(cb: (event: CacheEvent, value: T | undefined, raw: KubernetesObject) => void): () => void;
  readonly synced: boolean;
  /** False from a watch failure until the restart's relist succeeds (the cache answers from what it saw last). */
  readonly healthy: boolean;
  stop(): Promise<void>;
}

const objectKey = (ns: string | undefined, name: string): string => `${ns ?? ""}/${name}`;

class Store<T> {
  readonly byNamespace = new Map<string, Map<string, T>>();
  readonly invalid = new Map<string, InvalidObject>();
  private readonly indexes = new Map<string, Map<string, Map<string, T>>>();
  private readonly indexKeys = new Map<string, Map<string, string[]>>();

  constructor(private readonly indexFns: Record<string, (value: T) => string[]>) {
    for (const name of Object.keys(indexFns)) {
      this.indexes.set(name, new Map());
      this.indexKeys.set(name, new Map());
    }
  }

  put(ns: string, name: string, value: T): void {
    this.remove(ns, name);
    let m = this.byNamespace.get(ns);
    if (m === undefined) this.byNamespace.set(ns, (m = new Map<string, T>()));
    m.set(name, value);
    const key = objectKey(ns, name);
    for (const [index, fn] of Object.entries(this.indexFns)) {
      const keys = fn(value);
      this.indexKeys.get(index)!.set(key, keys);
      const idx = this.indexes.get(index)!;
      for (const k of keys) {
        let bucket = idx.get(k);
        if (bucket === undefined) idx.set(k, (bucket = new Map<string, T>()));
        bucket.set(key, value);
      }
    }
  }

  remove(ns: string, name: string): void {
    const key = objectKey(ns, name);
    this.invalid.delete(key);
    const m = this.byNamespace.get(ns);
    if (m?.delete(name) === true && m.size === 0) this.byNamespace.delete(ns);
    for (const [index, keysByObject] of this.indexKeys) {
      const idx = this.indexes.get(index)!;
      for (const k of keysByObject.get(key) ?? []) {
        const bucket = idx.get(k);
        bucket?.delete(key);
        if (bucket?.size === 0) idx.delete(k);
      }
      keysByObject.delete(key);
    }
  }

  byIndex(index: string, key: string): T[] {
    const idx = this.indexes.get(index);
    if (idx === undefined) throw new Error(`no index ${index} on this cache`);
    return [...(idx.get(key)?.values() ?? [])];
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Starts a list-watch and resolves once the first list has been stored. */
export async function startInformerCache<T>(kc: KubeConfig, opts: CacheOptions<T>): Promise<InformerCache<T>> {
  const store = new Store<T>(opts.indexes ?? {});
  const listeners = new Set<(event: CacheEvent, value: T | undefined, raw: KubernetesObject) => void>();
  const path = resourcePath({ group: opts.group, version: opts.version, plural: opts.plural });
  let listedOnce = false;
  let stopped = false;
  const health = watchHealth.track(opts.plural);

  const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const list = await kubeRequest<KubernetesListObject<KubernetesObject>>(kc, {
      path,
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
    });
    listedOnce = true;
    // A (re)list that succeeded: the cache is current again (client-node emits list failures as errors).
    health.up();
    return list;
  };
  const lw = new ListWatch<KubernetesObject>(
    path,
    new Watch(kc),
    listFn,
    false,
    opts.labelSelector,
    opts.fieldSelector,
  );

  const apply = (event: CacheEvent, raw: KubernetesObject): void => {
    const ns = raw.metadata?.namespace ?? "";
    const name = raw.metadata?.name ?? "";
    let value: T | undefined;
    if (event === "delete") {
      value = store.byNamespace.get(ns)?.get(name);
      store.remove(ns, name);
    } else {
      const parsed = opts.parse(raw);
      if (parsed.ok) {
        value = parsed.value;
        store.put(ns, name, value);
      } else {
        store.remove(ns, name);
        store.invalid.set(objectKey(ns, name), { namespace: ns || undefined, name, errors: parsed.errors });
      }
    }
    for (const cb of listeners) cb(event, value, raw);
  };
  lw.on("add", (o) => apply("add", o));
  lw.on("update", (o) => apply("update", o));
  lw.on("delete", (o) => apply("delete", o));

  // client-node stops a list-watch on any error other than 410; restart it with backoff.
  let backoffMs = 500;
  const restart = async (): Promise<void> => {
    while (!stopped) {
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30_000);
      if (stopped) return;
      try {
        await lw.start();
        backoffMs = 500;
        return;
      } catch (err) {
        health.failed();
        opts.onError?.(err);
      }
    }
  };
  lw.on("error", (err) => {
    if (stopped) return; // stopping aborts the watch: not an error worth reporting
    health.failed();
    opts.onError?.(err);
    void restart();
  });

  const deadline = Date.now() + (opts.syncTimeoutMs ?? 60_000);
  await lw.start();
  while (!listedOnce) {
    if (Date.now() > deadline) {
      stopped = true;
      health.close();
      await lw.stop();
      throw new Error(
        `could not list ${path} from the Kubernetes API (is the server reachable and the CRD installed?)`,
      );
    }
    await sleep(100);
  }

  return {
    list(namespace) {
      if (namespace !== undefined) return [...(store.byNamespace.get(namespace)?.values() ?? [])];
      const all: T[] = [];
      for (const m of store.byNamespace.values()) for (const v of m.values()) all.push(v);
      return all;
    },
    get: (name, namespace) => store.byNamespace.get(namespace ?? "")?.get(name),
    byIndex: (index, key) => store.byIndex(index, key),
    invalid: () => [...store.invalid.values()],
    on(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    get synced() {
      return listedOnce && !stopped;
    },
    get healthy() {
      return listedOnce && !stopped && health.healthy;
    },
    async stop() {
      stopped = true;
      health.close();
      await lw.stop();
    },
  };
}
