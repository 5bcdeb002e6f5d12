// What an informer keeps: each object's projection (never the object as the server sent it)
// and its resourceVersion, by namespace and name, plus any secondary index the caller asks for
// (bindings by selector, pods by IP). Objects the projection refused are kept as their errors
// only, so tools can say why they are ignored.
import type { FieldError } from "../model/types.ts";

export interface InvalidObject {
  namespace?: string;
  name: string;
  errors: FieldError[];
}

interface Entry<T> {
  /** Absent when the projection refused the object (see `invalid`). */
  value?: T;
  resourceVersion: string;
}

const objectKey = (ns: string, name: string): string => `${ns}/${name}`;

export class ObjectStore<T> {
  private readonly byNamespace = new Map<string, Map<string, Entry<T>>>();
  private readonly invalidByKey = new Map<string, InvalidObject>();
  private readonly indexes = new Map<string, Map<string, Map<string, T>>>();
  private readonly indexKeys = new Map<string, Map<string, string[]>>();

  constructor(private readonly indexFns: Record<string, (value: T) => string[]> = {}) {
    for (const name of Object.keys(indexFns)) {
      this.indexes.set(name, new Map());
      this.indexKeys.set(name, new Map());
    }
  }

  entry(ns: string, name: string): Entry<T> | undefined {
    return this.byNamespace.get(ns)?.get(name);
  }

  get(ns: string, name: string): T | undefined {
    return this.entry(ns, name)?.value;
  }

  list(ns?: string): T[] {
    const out: T[] = [];
    const maps = ns !== undefined ? [this.byNamespace.get(ns)] : this.byNamespace.values();
    for (const m of maps) for (const e of m?.values() ?? []) if (e.value !== undefined) out.push(e.value);
    return out;
  }

  /** Every stored key, `namespace/name` (relists find what went away with it). */
  keys(): string[] {
    const out: string[] = [];
    for (const [ns, m] of this.byNamespace) for (const name of m.keys()) out.push(objectKey(ns, name));
    return out;
  }

  put(ns: string, name: string, resourceVersion: string, value: T): void {
    this.remove(ns, name);
    this.set(ns, name, { value, resourceVersion });
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

  putInvalid(ns: string, name: string, resourceVersion: string, errors: FieldError[]): void {
    this.remove(ns, name);
    this.set(ns, name, { resourceVersion });
    this.invalidByKey.set(objectKey(ns, name), { ...(ns !== "" ? { namespace: ns } : {}), name, errors });
  }

  /** Removes an object; returns its value, if it had a valid one. */
  remove(ns: string, name: string): T | undefined {
    const key = objectKey(ns, name);
    const m = this.byNamespace.get(ns);
    const old = m?.get(name);
    if (old === undefined) return undefined;
    m!.delete(name);
    if (m!.size === 0) this.byNamespace.delete(ns);
    this.invalidByKey.delete(key);
    for (const [index, keysByObject] of this.indexKeys) {
      const idx = this.indexes.get(index)!;
      for (const k of keysByObject.get(key) ?? []) {
        const bucket = idx.get(k);
        bucket?.delete(key);
        if (bucket?.size === 0) idx.delete(k);
      }
      keysByObject.delete(key);
    }
    return old.value;
  }

  byIndex(index: string, key: string): T[] {
    const idx = this.indexes.get(index);
    if (idx === undefined) throw new Error(`no index ${index} on this cache`);
    return [...(idx.get(key)?.values() ?? [])];
  }

  invalid(): InvalidObject[] {
    return [...this.invalidByKey.values()];
  }

  private set(ns: string, name: string, e: Entry<T>): void {
    let m = this.byNamespace.get(ns);
    if (m === undefined) this.byNamespace.set(ns, (m = new Map<string, Entry<T>>()));
    m.set(name, e);
  }
}

export const splitKey = (key: string): { namespace: string; name: string } => {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
};
