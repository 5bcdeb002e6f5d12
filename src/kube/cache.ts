// An informer: a typed read cache over one list-watch. Each object is projected once, as it
// arrives, by the caller's `parse` (validate, then keep only the fields the program decides
// on); the whole object is never stored. Programs read only from here on their hot paths: no
// API call there. Listeners hear only real changes: an event whose projection is unchanged (a
// pod's status heartbeat, for a program that ignores status) or a relisted object whose
// resourceVersion is unchanged costs no event, so a relist after 410 Gone wakes nobody when
// nothing happened meanwhile.
import { isDeepStrictEqual } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import type { FieldError } from "../model/types.ts";
import { ListWatchLoop, type ListWatchOptions, type RawObject, type WatchHealth } from "./list-watch.ts";
import { kubeRequest, resourcePath } from "./request.ts";
import { ObjectStore, splitKey, type InvalidObject } from "./store.ts";
import { watchHealth } from "./watch-health.ts";

export type { InvalidObject } from "./store.ts";
export type { WatchHealth } from "./list-watch.ts";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
}

export interface CacheOptions<T> extends ResourceRef {
  /** The transform: validates an object as the server sent it and returns what is kept of it. */
  parse: (obj: unknown) => ParseResult<T>;
  /** Only what matches crosses the wire (e.g. `aadpodidbinding` for pods that can need an identity). */
  labelSelector?: string;
  fieldSelector?: string;
  /** Secondary indexes: name → function giving the keys an object is found under. */
  indexes?: Record<string, (value: T) => string[]>;
  /** How long to keep trying the first list before giving up. */
  syncTimeoutMs?: number;
  pageSize?: number;
  onError?: (err: unknown) => void;
}

export type CacheEvent = "add" | "update" | "delete";

export interface CacheChange<T> {
  event: CacheEvent;
  namespace: string;
  name: string;
  /** The projection now; undefined after a delete, or when the projection refused the object. */
  value?: T;
  /** The projection before this change, if there was a valid one. */
  previous?: T;
}

export interface InformerCache<T> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
  byIndex(index: string, key: string): T[];
  /** Objects the parser refused, so tools (doctor, logs) can say why they are ignored. */
  invalid(): InvalidObject[];
  /** Subscribes to changes; returns the unsubscribe function. */
  on(cb: (change: CacheChange<T>) => void): () => void;
  readonly synced: boolean;
  health(): WatchHealth;
  /** The watch is current (health().watching): false from a failure or 410 until a watch is open again. */
  readonly healthy: boolean;
  stop(): Promise<void>;
}

const metaOf = (raw: RawObject): { ns: string; name: string; rv: string } => ({
  ns: raw.metadata?.namespace ?? "",
  name: raw.metadata?.name ?? "",
  rv: raw.metadata?.resourceVersion ?? "",
});

/** The store side of an informer: projects, stores and tells listeners what really changed. */
class ProjectingSink<T> {
  readonly store: ObjectStore<T>;
  readonly listeners = new Set<(change: CacheChange<T>) => void>();
  private seen: Set<string> | undefined;

  constructor(private readonly opts: CacheOptions<T>) {
    this.store = new ObjectStore<T>(opts.indexes ?? {});
  }

  listStart(): void {
    this.seen = new Set();
  }

  listed(raw: RawObject): void {
    const { ns, name } = metaOf(raw);
    this.seen?.add(`${ns}/${name}`);
    this.upsert(raw);
  }

  listEnd(): void {
    const seen = this.seen ?? new Set();
    this.seen = undefined;
    for (const key of this.store.keys()) {
      if (seen.has(key)) continue;
      const { namespace, name } = splitKey(key);
      this.delete(namespace, name);
    }
  }

  event(type: "ADDED" | "MODIFIED" | "DELETED", raw: RawObject): void {
    if (type !== "DELETED") return this.upsert(raw);
    const { ns, name } = metaOf(raw);
    this.delete(ns, name);
  }

  private upsert(raw: RawObject): void {
    const { ns, name, rv } = metaOf(raw);
    const before = this.store.entry(ns, name);
    if (before !== undefined && rv !== "" && before.resourceVersion === rv) return; // relisted, unchanged
    const previous = before?.value;
    const parsed = this.opts.parse(raw);
    if (!parsed.ok) {
      this.store.putInvalid(ns, name, rv, parsed.errors);
      // It leaves list(): listeners that held it hear so; an object never valid changes nothing.
      if (previous !== undefined) this.emit({ event: "update", namespace: ns, name, previous });
      return;
    }
    this.store.put(ns, name, rv, parsed.value);
    if (previous !== undefined && isDeepStrictEqual(previous, parsed.value)) return;
    this.emit({ event: before === undefined ? "add" : "update", namespace: ns, name, value: parsed.value, previous });
  }

  private delete(ns: string, name: string): void {
    if (this.store.entry(ns, name) === undefined) return;
    const previous = this.store.remove(ns, name);
    this.emit({ event: "delete", namespace: ns, name, previous });
  }

  private emit(change: CacheChange<T>): void {
    for (const cb of this.listeners) cb(change);
  }
}

const loopOptions = <T>(opts: CacheOptions<T> & { namespace?: string }): ListWatchOptions => ({
  path: resourcePath(opts),
  labelSelector: opts.labelSelector,
  fieldSelector: opts.fieldSelector,
  pageSize: opts.pageSize,
  onError: opts.onError,
});

/** Starts a list-watch and resolves once the first list has been stored. */
export async function startInformerCache<T>(kc: KubeConfig, opts: CacheOptions<T>): Promise<InformerCache<T>> {
  const sink = new ProjectingSink<T>(opts);
  const tracked = watchHealth.track(opts.plural);
  const loop = new ListWatchLoop(kc, { ...loopOptions(opts), tracked }, sink);
  try {
    await loop.start(opts.syncTimeoutMs ?? 60_000);
  } catch (e) {
    tracked.close();
    throw e;
  }
  const store = sink.store;
  let stopped = false;
  return {
    list: (namespace) => store.list(namespace),
    get: (name, namespace) => store.get(namespace ?? "", name),
    byIndex: (index, key) => store.byIndex(index, key),
    invalid: () => store.invalid(),
    on(cb) {
      sink.listeners.add(cb);
      return () => sink.listeners.delete(cb);
    },
    get synced() {
      return !stopped;
    },
    health: () => loop.health(),
    get healthy() {
      return !stopped && loop.health().watching;
    },
    stop() {
      stopped = true;
      tracked.close();
      loop.stop();
      return Promise.resolve();
    },
  };
}

/**
 * One list through the same pages and projection, without a watch: for one-shot tools (the
 * doctor) that must read the cluster the way the programs do.
 */
export async function listOnce<T>(
  kc: KubeConfig,
  opts: CacheOptions<T> & { namespace?: string },
): Promise<{ items: T[]; invalid: InvalidObject[] }> {
  const sink = new ProjectingSink<T>(opts);
  await new ListWatchLoop(kc, loopOptions(opts), sink).listOnly();
  return { items: sink.store.list(), invalid: sink.store.invalid() };
}

/** One object, read straight from the API server and projected as an informer would. */
export async function readOnce<T>(
  kc: KubeConfig,
  ref: ResourceRef & { namespace?: string; name: string },
  parse: (obj: unknown) => ParseResult<T>,
): Promise<ParseResult<T>> {
  return parse(await kubeRequest(kc, { path: resourcePath(ref) }));
}
