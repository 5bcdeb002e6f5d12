// Slim views of the core objects the reconciler watches. The informer keeps only these, not
// the whole pod, which is what lets 150,000 pods fit in a modest heap.
import { ADMISSION_MARK_ANNOTATION, ADMITTED_IDENTITIES_ANNOTATION, BINDING_LABEL } from "../model/constants.ts";
import { markVersion, parseAdmittedIdentities, type MarkIdentity } from "../policy/admission-mark.ts";

export interface PodInfo {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  serviceAccountName: string;
  hostNetwork: boolean;
  /** Unset until the scheduler has placed the pod. */
  nodeName?: string;
  /** Succeeded or Failed: the pod will never run again. */
  terminated: boolean;
  /** When the pod was scheduled (ms), for the assignment-latency metric. */
  scheduledAt?: number;
  /**
   * The identities its admission mark names (v2 marks): only those are assigned for it, and
   * identities bound later are reported as needing a restart. Unset: no v2 mark (all bound).
   * Not verified here (the reconciler has no key); the NMI verifies before serving.
   */
  admitted?: MarkIdentity[];
}

export interface NodeInfo {
  name: string;
  providerID?: string;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; errors: Array<{ field: string; message: string }> };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function meta(obj: unknown): Parsed<{ name: string; namespace?: string; uid: string; labels: Record<string, string> }> {
  if (!isObj(obj) || !isObj(obj.metadata))
    return { ok: false, errors: [{ field: "metadata", message: "expected an object" }] };
  const name = str(obj.metadata.name);
  if (name === undefined)
    return { ok: false, errors: [{ field: "metadata.name", message: "expected a non-empty string" }] };
  return {
    ok: true,
    value: {
      name,
      namespace: str(obj.metadata.namespace),
      uid: str(obj.metadata.uid) ?? "",
      labels: stringMap(obj.metadata.labels),
    },
  };
}

function admittedOf(annotations: unknown): MarkIdentity[] | undefined {
  const a = stringMap(annotations);
  const text = a[ADMITTED_IDENTITIES_ANNOTATION];
  if (text === undefined || markVersion(a[ADMISSION_MARK_ANNOTATION]) === "v1") return undefined;
  const parsed = parseAdmittedIdentities(text);
  return parsed.ok ? parsed.value : [];
}

function scheduledAt(status: Record<string, unknown>): number | undefined {
  if (!Array.isArray(status.conditions)) return undefined;
  for (const c of status.conditions as unknown[]) {
    if (isObj(c) && c.type === "PodScheduled" && c.status === "True" && typeof c.lastTransitionTime === "string") {
      const t = Date.parse(c.lastTransitionTime);
      return Number.isNaN(t) ? undefined : t;
    }
  }
  return undefined;
}

export function parsePod(obj: unknown): Parsed<PodInfo> {
  const m = meta(obj);
  if (!m.ok) return m;
  const o = obj as Record<string, unknown>;
  const spec = isObj(o.spec) ? o.spec : {};
  const status = isObj(o.status) ? o.status : {};
  const phase = str(status.phase);
  // Pods without the binding label never need anything: keep them tiny.
  const labelled = m.value.labels[BINDING_LABEL] !== undefined;
  const labels = labelled ? m.value.labels : {};
  const admitted = labelled ? admittedOf((o.metadata as Record<string, unknown>).annotations) : undefined;
  return {
    ok: true,
    value: {
      name: m.value.name,
      namespace: m.value.namespace ?? "default",
      uid: m.value.uid,
      labels,
      serviceAccountName: str(spec.serviceAccountName) ?? "default",
      hostNetwork: spec.hostNetwork === true,
      ...(str(spec.nodeName) !== undefined ? { nodeName: str(spec.nodeName) } : {}),
      terminated: phase === "Succeeded" || phase === "Failed",
      ...(scheduledAt(status) !== undefined ? { scheduledAt: scheduledAt(status) } : {}),
      ...(admitted !== undefined ? { admitted } : {}),
    },
  };
}

export function parseNode(obj: unknown): Parsed<NodeInfo> {
  const m = meta(obj);
  if (!m.ok) return m;
  const spec = isObj((obj as Record<string, unknown>).spec)
    ? ((obj as Record<string, unknown>).spec as Record<string, unknown>)
    : {};
  const providerID = str(spec.providerID);
  return { ok: true, value: { name: m.value.name, ...(providerID !== undefined ? { providerID } : {}) } };
}

export function parseNamespace(obj: unknown): Parsed<NamespaceInfo> {
  const m = meta(obj);
  if (!m.ok) return m;
  return { ok: true, value: { name: m.value.name, labels: m.value.labels } };
}
