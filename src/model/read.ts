// Helpers the parsers share: case-insensitive field lookup (AAD Pod Identity decoded with Go's
// encoding/json, which matches keys case-insensitively, so `ResourceID` and `resourceID` both
// worked), typed reads that record an error naming the field instead of throwing, and
// metadata.
import type { FieldError, ObjectMeta, Parsed } from "./types.ts";

export type Obj = Record<string, unknown>;

export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** What a value is, for error messages: "a number (5)", "an array", "null". */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "string":
      return v.length > 40 ? `a string ("${v.slice(0, 40)}...")` : `a string ("${v}")`;
    case "number":
    case "boolean":
      return `a ${typeof v} (${String(v)})`;
    case "object":
      return "an object";
    default:
      return typeof v;
  }
}

/** The value of `name` in `obj`: the exact spelling first, else the first case-insensitive match (as Go did). */
export function getField(obj: Obj, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** Collects field errors; parsers finish with `result(value)`. */
export class Errors {
  readonly list: FieldError[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
  result<T>(value: T): Parsed<T> {
    return this.empty ? { ok: true, value } : { ok: false, errors: this.list };
  }
}

export function fail<T>(field: string, message: string): Parsed<T> {
  return { ok: false, errors: [{ field, message }] };
}

/** A string field; absent/empty → undefined (with an error when required). */
export function readString(obj: Obj, name: string, path: string, errs: Errors, required: boolean): string | undefined {
  const v = getField(obj, name);
  if (v === undefined || v === null || v === "") {
    if (required) errs.add(path, "is required");
    return undefined;
  }
  if (typeof v !== "string") {
    errs.add(path, `expected a string, got ${describe(v)}`);
    return undefined;
  }
  return v.trim();
}

/** An object field; absent → undefined (with an error when required). */
export function readObject(obj: Obj, name: string, path: string, errs: Errors, required: boolean): Obj | undefined {
  const v = getField(obj, name);
  if (v === undefined || v === null) {
    if (required) errs.add(path, "is required");
    return undefined;
  }
  if (!isObject(v)) {
    errs.add(path, `expected an object, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/**
 * A map of strings. With `stringify`, scalar values become strings (YAML reads `noaad: true` as
 * a boolean, and the seed writes exactly that); otherwise non-strings are errors.
 */
export function readStringMap(v: unknown, path: string, errs: Errors, stringify: boolean): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    errs.add(path, `expected a map of strings, got ${describe(v)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === "string") out[k] = val;
    else if (stringify && (typeof val === "boolean" || typeof val === "number")) out[k] = String(val);
    else errs.add(`${path}.${k}`, `expected a string, got ${describe(val)}`);
  }
  return out;
}

/** metadata: name required; labels and annotations default to {}. */
export function readMeta(obj: Obj, errs: Errors): ObjectMeta {
  const m = obj.metadata;
  if (!isObject(m)) {
    errs.add("metadata", m === undefined ? "is required" : `expected an object, got ${describe(m)}`);
    return { name: "", labels: {}, annotations: {} };
  }
  const meta: ObjectMeta = {
    name: readString(m, "name", "metadata.name", errs, true) ?? "",
    labels: readStringMap(m.labels, "metadata.labels", errs, false),
    annotations: readStringMap(m.annotations, "metadata.annotations", errs, false),
  };
  if (typeof m.namespace === "string" && m.namespace !== "") meta.namespace = m.namespace;
  if (typeof m.uid === "string") meta.uid = m.uid;
  if (typeof m.resourceVersion === "string") meta.resourceVersion = m.resourceVersion;
  if (typeof m.generation === "number") meta.generation = m.generation;
  return meta;
}

/** The top-level object and its spec (undefined when unusable); a wrong `kind`, when present, is an error. */
export function readTop(
  obj: unknown,
  kind: string,
  errs: Errors,
  specRequired = true,
): { top: Obj; meta: ObjectMeta; spec: Obj } | undefined {
  if (!isObject(obj)) {
    errs.add("", `expected a ${kind} object, got ${describe(obj)}`);
    return undefined;
  }
  if (obj.kind !== undefined && obj.kind !== kind) errs.add("kind", `expected "${kind}", got ${describe(obj.kind)}`);
  const meta = readMeta(obj, errs);
  const spec = readObject(obj, "spec", "spec", errs, specRequired);
  // Without a spec the per-field errors would only repeat "spec is required".
  if (spec === undefined && specRequired) return undefined;
  return { top: obj, meta, spec: spec ?? {} };
}

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Kubernetes label value: at most 63 characters, alphanumerics, `-`, `_`, `.`, alphanumeric at both ends. */
export const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
/** DNS-1123 subdomain (object names). */
export const OBJECT_NAME = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;
