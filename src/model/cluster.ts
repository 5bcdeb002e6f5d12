// The Nodes and Namespaces podid reads, as the slim projections its informers keep: a node's
// name and providerID (which VM or scale set it is), a namespace's name and labels (which
// policies select it). Everything else on them (a node's images and conditions, which change
// with every heartbeat) is left behind on the way in.
import { isObject } from "./read.ts";
import type { Parsed } from "./types.ts";

export interface NodeInfo {
  name: string;
  providerID?: string;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function strings(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function named(obj: unknown): Parsed<{ name: string; meta: Record<string, unknown>; spec: Record<string, unknown> }> {
  if (!isObject(obj) || !isObject(obj.metadata))
    return { ok: false, errors: [{ field: "metadata", message: "expected an object" }] };
  const name = str(obj.metadata.name);
  if (name === undefined)
    return { ok: false, errors: [{ field: "metadata.name", message: "expected a non-empty string" }] };
  return { ok: true, value: { name, meta: obj.metadata, spec: isObject(obj.spec) ? obj.spec : {} } };
}

export function parseNode(obj: unknown): Parsed<NodeInfo> {
  const n = named(obj);
  if (!n.ok) return n;
  const providerID = str(n.value.spec.providerID);
  return { ok: true, value: { name: n.value.name, ...(providerID !== undefined ? { providerID } : {}) } };
}

export function parseNamespace(obj: unknown): Parsed<NamespaceInfo> {
  const n = named(obj);
  if (!n.ok) return n;
  return { ok: true, value: { name: n.value.name, labels: strings(n.value.meta.labels) } };
}
