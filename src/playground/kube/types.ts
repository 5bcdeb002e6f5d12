// The shapes the loopback API server works with. Objects are plain JSON: the server stores
// what clients send (plus the fields it owns), so only the metadata is typed.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** A printer column of a server-side Table (a CRD's additionalPrinterColumns use the same). */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  /** JSONPath-like path into the object, e.g. `.spec.nodeName`; absent for computed columns. */
  jsonPath?: string;
  /** For built-in columns computed from the object. */
  compute?: (obj: KObject, now: number) => unknown;
}

/** One REST resource the server serves. */
export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served, e.g. "status", "binding", "token". */
  subresources: string[];
  /** Verbs announced in discovery. */
  verbs: string[];
  /** metadata.generation is kept (bumped when anything but metadata and status changes). */
  generation: boolean;
  /** Updates must carry metadata.resourceVersion (custom resources). */
  requireResourceVersionOnUpdate: boolean;
  /** Names must be DNS labels rather than DNS subdomains (namespaces, services). */
  dnsLabelNames: boolean;
  /** Strategic merge patches accepted (built-ins kubectl knows). */
  strategicMerge: boolean;
  /** Only "create" (TokenReview): nothing is stored. */
  createOnly?: boolean;
  printerColumns?: PrinterColumn[];
  /** For custom resources: the served version's OpenAPI schema, used for defaults. */
  schema?: unknown;
  /** The CRD that serves it, if any. */
  crdName?: string;
}

export const resourceKey = (r: { group: string; plural: string }): string =>
  r.group === "" ? r.plural : `${r.plural}.${r.group}`;
export const apiVersionOf = (r: { group: string; version: string }): string =>
  r.group === "" ? r.version : `${r.group}/${r.version}`;

/** Who is calling, as TokenReview and AdmissionReview report it. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isKObject(v: unknown): v is KObject {
  return isRecord(v) && isRecord(v.metadata);
}

/** JSON with object keys sorted: equal for equal data whatever order a client sent keys in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** A JSON array as unknown[] (anything else: empty). */
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);

/** A JSON value as text for messages: strings as they are, anything else as JSON. */
export function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined || v === null) return "";
  return typeof v === "object"
    ? JSON.stringify(v)
    : typeof v === "number" || typeof v === "boolean" || typeof v === "bigint"
      ? v.toString()
      : typeof v;
}

/** Deep copy of JSON data (stored objects are never shared with callers). */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Reads a dotted path (`spec.nodeName`) from a JSON object. */
export function getPath(obj: unknown, path: string | string[]): unknown {
  const parts = typeof path === "string" ? path.split(".").filter((p) => p !== "") : path;
  let cur: unknown = obj;
  for (const p of parts) {
    if (!isRecord(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}
