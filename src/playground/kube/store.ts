// In-memory storage with one resourceVersion counter, per-resource watch history (so a watch
// from a version replays what happened since, and a version older than the retained window is
// 410 Gone), and indexes by namespace, uid and owner uid, so lists, GC and watches stay cheap
// with hundreds of thousands of objects.
import type { FieldPredicate, LabelPredicate } from "./selectors.ts";
import { clone, resourceKey, type KObject, type ResourceDef } from "./types.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  rv: number;
  object: KObject;
  /** The previous state (MODIFIED, DELETED), so filtered watches can send DELETED for "stopped matching". */
  old?: KObject;
}

export interface WatchFilter {
  namespace?: string;
  labels: LabelPredicate;
  fields: FieldPredicate;
}

export interface Watcher extends WatchFilter {
  send(type: EventType, object: KObject, json: () => string): void;
  /** The resource went away (its CRD was deleted): the watch ends. */
  close?(): void;
}

/** Watch history keeps serialised objects only (a third of an object's memory), parsed on replay. */
interface HistoryEntry {
  type: EventType;
  rv: number;
  json: string;
  oldJson?: string;
}

class Collection {
  readonly byNamespace = new Map<string, Map<string, KObject>>();
  size = 0;
  history: HistoryEntry[] = [];
  /** History before (and including) this version has been dropped. */
  compactedRv = 0;
  readonly watchers = new Set<Watcher>();
}

export interface StoredRef {
  resource: string;
  namespace: string;
  name: string;
}

export class Store {
  private rv = 1;
  private readonly collections = new Map<string, Collection>();
  private readonly byUid = new Map<string, StoredRef>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly listeners = new Set<(resource: string, ev: StoreEvent) => void>();

  /** historyLimit: watch events kept per resource; beyond it the older half is dropped (410 Gone). */
  constructor(private readonly historyLimit = 200_000) {}

  currentRv(): number {
    return this.rv;
  }

  private coll(resource: string): Collection {
    let c = this.collections.get(resource);
    if (c === undefined) this.collections.set(resource, (c = new Collection()));
    return c;
  }

  get(def: ResourceDef | string, ns: string, name: string): KObject | undefined {
    return this.coll(typeof def === "string" ? def : resourceKey(def))
      .byNamespace.get(ns)
      ?.get(name);
  }

  /** Stored objects (shared: callers must not mutate them). */
  list(def: ResourceDef | string, ns?: string): KObject[] {
    const c = this.coll(typeof def === "string" ? def : resourceKey(def));
    if (ns !== undefined) return [...(c.byNamespace.get(ns)?.values() ?? [])];
    const out: KObject[] = [];
    for (const m of c.byNamespace.values()) for (const o of m.values()) out.push(o);
    return out;
  }

  count(def: ResourceDef | string, ns?: string): number {
    const c = this.coll(typeof def === "string" ? def : resourceKey(def));
    return ns === undefined ? c.size : (c.byNamespace.get(ns)?.size ?? 0);
  }

  /** Resource keys that hold objects in a namespace. */
  resourcesIn(ns: string): string[] {
    return [...this.collections.entries()].filter(([, c]) => (c.byNamespace.get(ns)?.size ?? 0) > 0).map(([k]) => k);
  }

  byUidRef(uid: string): StoredRef | undefined {
    return this.byUid.get(uid);
  }

  dependentsOf(uid: string): StoredRef[] {
    return [...(this.dependents.get(uid) ?? [])]
      .map((s) => this.byUid.get(s))
      .filter((r): r is StoredRef => r !== undefined);
  }

  /** Stores a new or changed object under the next resourceVersion and tells the watchers. */
  put(def: ResourceDef, obj: KObject): KObject {
    const resource = resourceKey(def);
    const c = this.coll(resource);
    const ns = obj.metadata.namespace ?? "";
    const name = obj.metadata.name!;
    let m = c.byNamespace.get(ns);
    if (m === undefined) c.byNamespace.set(ns, (m = new Map<string, KObject>()));
    const old = m.get(name);
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    m.set(name, stored);
    if (old === undefined) c.size++;
    if (old !== undefined) this.unindex(old);
    this.index(resource, stored);
    this.record(resource, c, { type: old === undefined ? "ADDED" : "MODIFIED", rv: this.rv, object: stored, old });
    return stored;
  }

  remove(def: ResourceDef, ns: string, name: string): KObject | undefined {
    const resource = resourceKey(def);
    const c = this.coll(resource);
    const m = c.byNamespace.get(ns);
    const old = m?.get(name);
    if (m === undefined || old === undefined) return undefined;
    m.delete(name);
    if (m.size === 0) c.byNamespace.delete(ns);
    c.size--;
    this.unindex(old);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record(resource, c, { type: "DELETED", rv: this.rv, object: gone, old });
    return gone;
  }

  private index(resource: string, o: KObject): void {
    const uid = o.metadata.uid;
    if (uid === undefined) return;
    this.byUid.set(uid, { resource, namespace: o.metadata.namespace ?? "", name: o.metadata.name! });
    for (const ref of o.metadata.ownerReferences ?? []) {
      let s = this.dependents.get(ref.uid);
      if (s === undefined) this.dependents.set(ref.uid, (s = new Set()));
      s.add(uid);
    }
  }

  private unindex(o: KObject): void {
    const uid = o.metadata.uid;
    if (uid === undefined) return;
    this.byUid.delete(uid);
    for (const ref of o.metadata.ownerReferences ?? []) {
      const s = this.dependents.get(ref.uid);
      s?.delete(uid);
      if (s?.size === 0) this.dependents.delete(ref.uid);
    }
  }

  private record(resource: string, c: Collection, ev: StoreEvent): void {
    c.history.push({
      type: ev.type,
      rv: ev.rv,
      json: objectJson(ev.object),
      oldJson: ev.old !== undefined ? objectJson(ev.old) : undefined,
    });
    if (c.history.length > this.historyLimit) {
      const drop = Math.floor(this.historyLimit / 2);
      c.compactedRv = c.history[drop - 1]!.rv;
      c.history = c.history.slice(drop);
    }
    for (const w of c.watchers) deliver(w, ev);
    for (const l of this.listeners) l(resource, ev);
  }

  /** Internal controllers subscribe here (every resource). */
  onEvent(cb: (resource: string, ev: StoreEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Registers a watcher. From a resourceVersion: replays later events first; `undefined` sends
   * the current state as ADDED events. Returns `{ tooOld }` instead when history is gone.
   */
  watch(def: ResourceDef, w: Watcher, fromRv: number | undefined): { stop: () => void } | { tooOld: number } {
    const c = this.coll(resourceKey(def));
    if (fromRv === undefined) {
      for (const o of this.list(def, w.namespace))
        deliver(w, { type: "ADDED", rv: Number(o.metadata.resourceVersion), object: o });
    } else {
      if (fromRv < c.compactedRv) return { tooOld: c.compactedRv + 1 };
      for (let i = firstAfter(c.history, fromRv); i < c.history.length; i++) deliver(w, replayed(c.history[i]!));
    }
    c.watchers.add(w);
    return { stop: () => c.watchers.delete(w) };
  }

  /** Drops watch history for a resource (tests use this to provoke 410 Gone). */
  compact(def: ResourceDef | string): void {
    const c = this.coll(typeof def === "string" ? def : resourceKey(def));
    c.compactedRv = this.rv;
    c.history = [];
  }

  dropResource(def: ResourceDef): void {
    for (const o of this.list(def)) this.remove(def, o.metadata.namespace ?? "", o.metadata.name!);
    this.closeWatches(def);
  }

  /** Ends every watch on a resource (clients reconnect from their last resourceVersion). */
  closeWatches(def: ResourceDef): void {
    const c = this.coll(resourceKey(def));
    for (const w of [...c.watchers]) w.close?.();
    c.watchers.clear();
  }

  watcherCount(def: ResourceDef): number {
    return this.coll(resourceKey(def)).watchers.size;
  }
}

function firstAfter(history: HistoryEntry[], rv: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (history[mid]!.rv <= rv) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Each stored version is serialised once: for every watcher and for the history. */
const serialised = new WeakMap<KObject, string>();
export function objectJson(o: KObject): string {
  let s = serialised.get(o);
  if (s === undefined) serialised.set(o, (s = JSON.stringify(o)));
  return s;
}

function replayed(e: HistoryEntry): StoreEvent {
  const object = JSON.parse(e.json) as KObject;
  serialised.set(object, e.json);
  const ev: StoreEvent = { type: e.type, rv: e.rv, object };
  if (e.oldJson !== undefined) {
    ev.old = JSON.parse(e.oldJson) as KObject;
    serialised.set(ev.old, e.oldJson);
  }
  return ev;
}

const jsonFor =
  (type: EventType, object: KObject): (() => string) =>
  () =>
    `{"type":"${type}","object":${objectJson(object)}}\n`;

function passes(w: WatchFilter, o: KObject | undefined): boolean {
  if (o === undefined) return false;
  if (w.namespace !== undefined && (o.metadata.namespace ?? "") !== w.namespace) return false;
  return w.labels(o.metadata.labels) && w.fields(o);
}

function withRv(o: KObject, rv: number): KObject {
  const c = { ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } };
  return c;
}

/** A filtered watch sees ADDED/DELETED when an object starts/stops matching, as the watch cache does. */
function deliver(w: Watcher, ev: StoreEvent): void {
  const now = passes(w, ev.object);
  if (ev.type === "DELETED") {
    if (passes(w, ev.old)) w.send("DELETED", ev.object, jsonFor("DELETED", ev.object));
    return;
  }
  const before = ev.type === "MODIFIED" && passes(w, ev.old);
  if (now && (before || ev.type === "ADDED")) w.send(ev.type, ev.object, jsonFor(ev.type, ev.object));
  else if (now) w.send("ADDED", ev.object, jsonFor("ADDED", ev.object));
  else if (before) {
    const o = withRv(ev.old!, ev.rv);
    w.send("DELETED", o, jsonFor("DELETED", o));
  }
}
