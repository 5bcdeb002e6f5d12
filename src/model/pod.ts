// One view of a Pod (or of a workload's pod template) for every program, read from the API
// object once, and the projection each program keeps of it. Pods are not a podid kind, but
// the webhook, the reconciler, the NMI and the doctor all read them: one reader means they
// agree on defaults (the service account, the phase) and on which fields count.
//
// The projections are what the informers store (src/kube keeps no whole objects), so each
// one carries only what its program decides on: the reconciler's keeps no annotations,
// addresses or containers, and that is most of what 150,000 pods would cost.
import { BINDING_LABEL } from "./constants.ts";
import { EMPTY_MAP, intern, internMap } from "./intern.ts";
import { describe, Errors, isObject, readStringMap, type Obj } from "./read.ts";
import type { Parsed } from "./types.ts";

export interface PodView {
  /** "" for a pod template. */
  name: string;
  /** "" when the object does not say (admission requests carry the namespace apart). */
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The ServiceAccount admission plugin sets it before webhooks; "default" is what it would set. */
  serviceAccountName: string;
  hostNetwork: boolean;
  /** Unset until the scheduler has placed the pod. */
  nodeName?: string;
  /** "Pending" until a kubelet says otherwise. */
  phase: string;
  podIPs: string[];
  creationTimestamp?: string;
  /** Set while the pod is being deleted, with the grace period it was given. */
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  /** When the pod was scheduled (ms), from its PodScheduled condition. */
  scheduledAt?: number;
}

export interface ReadPodOptions {
  /** Field path of the object, for error messages (e.g. `object.spec.template`). */
  path?: string;
  /**
   * Strict (admission): a label or annotation that is not a string is an error naming it.
   * Lenient (watched pods, which the API server has validated): such values are left out.
   */
  strict?: boolean;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function podIPs(status: Obj): string[] {
  const ips = new Set<string>();
  if (str(status.podIP) !== undefined) ips.add(status.podIP as string);
  if (Array.isArray(status.podIPs))
    for (const p of status.podIPs) if (isObject(p) && str(p.ip)) ips.add(p.ip as string);
  return [...ips];
}

function scheduledAt(status: Obj): number | undefined {
  if (!Array.isArray(status.conditions)) return undefined;
  for (const c of status.conditions as unknown[]) {
    if (isObject(c) && c.type === "PodScheduled" && c.status === "True" && typeof c.lastTransitionTime === "string") {
      const t = Date.parse(c.lastTransitionTime);
      return Number.isNaN(t) ? undefined : t;
    }
  }
  return undefined;
}

/** Optional fields, present only when set (so projections compare equal when nothing changed). */
function optionals(meta: Obj, spec: Obj, status: Obj): Partial<PodView> {
  const out: Partial<PodView> = {};
  if (str(spec.nodeName) !== undefined) out.nodeName = spec.nodeName as string;
  if (str(meta.creationTimestamp) !== undefined) out.creationTimestamp = meta.creationTimestamp as string;
  if (str(meta.deletionTimestamp) !== undefined) out.deletionTimestamp = meta.deletionTimestamp as string;
  if (typeof meta.deletionGracePeriodSeconds === "number")
    out.deletionGracePeriodSeconds = meta.deletionGracePeriodSeconds;
  const at = scheduledAt(status);
  if (at !== undefined) out.scheduledAt = at;
  return out;
}

/** Reads a pod-like `{metadata, spec, status}`; bad shapes are reported by field, like the model's parsers. */
export function readPod(obj: unknown, opts: ReadPodOptions = {}): Parsed<PodView> {
  const path = opts.path ?? "";
  const at = (f: string): string => (path === "" ? f : `${path}.${f}`);
  if (!isObject(obj))
    return { ok: false, errors: [{ field: path, message: `expected an object, got ${describe(obj)}` }] };
  const errs = new Errors();
  const meta = obj.metadata ?? {};
  const spec = obj.spec ?? {};
  if (!isObject(meta)) errs.add(at("metadata"), `expected an object, got ${describe(meta)}`);
  if (!isObject(spec)) errs.add(at("spec"), `expected an object, got ${describe(spec)}`);
  if (!isObject(meta) || !isObject(spec)) return { ok: false, errors: errs.list };
  const status = isObject(obj.status) ? obj.status : {};
  const mapErrs = opts.strict === true ? errs : new Errors();
  return errs.result({
    name: str(meta.name) ?? "",
    namespace: str(meta.namespace) ?? "",
    uid: str(meta.uid) ?? "",
    labels: readStringMap(meta.labels, at("metadata.labels"), mapErrs, false),
    annotations: readStringMap(meta.annotations, at("metadata.annotations"), mapErrs, false),
    serviceAccountName: str(spec.serviceAccountName) ?? "default",
    hostNetwork: spec.hostNetwork === true,
    phase: str(status.phase) ?? "Pending",
    podIPs: podIPs(status),
    ...optionals(meta, spec, status),
  });
}

/** A watched pod must be a pod: an object with a name (and a namespace where `needNamespace`). */
function readWatchedPod(obj: unknown, needNamespace: boolean): Parsed<PodView> {
  if (!isObject(obj) || !isObject(obj.metadata))
    return { ok: false, errors: [{ field: "metadata", message: "expected an object" }] };
  if (str(obj.metadata.name) === undefined)
    return { ok: false, errors: [{ field: "metadata.name", message: "expected a non-empty string" }] };
  if (needNamespace && str(obj.metadata.namespace) === undefined)
    return { ok: false, errors: [{ field: "metadata.namespace", message: "expected a non-empty string" }] };
  return readPod(obj);
}

const project =
  <T>(needNamespace: boolean, fn: (v: PodView) => T) =>
  (obj: unknown): Parsed<T> => {
    const v = readWatchedPod(obj, needNamespace);
    return v.ok ? { ok: true, value: fn(v.value) } : v;
  };

// --- the webhook: what admission decides on -------------------------------------------------

export interface AdmissionPod {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccountName: string;
  hostNetwork: boolean;
}

export const admissionPod = (v: PodView): AdmissionPod => ({
  labels: v.labels,
  annotations: v.annotations,
  serviceAccountName: v.serviceAccountName,
  hostNetwork: v.hostNetwork,
});

// --- the reconciler: which identities each node needs ------------------------------------------

export interface ReconcilerPod {
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
  admitted?: AdmittedIdentity[];
}

/** An identity a pod's admission mark names (the policy engine reads the mark: `admitted` below). */
export interface AdmittedIdentity {
  name: string;
  clientID: string;
  /** Managed identities (type 0) only. */
  resourceID?: string;
}

/**
 * `admitted` reads the identities a labelled pod's admission mark names from its annotations
 * (policy/admission-mark.ts knows the format; the model does not depend on the policy).
 */
export function reconcilerPod(
  v: PodView,
  admitted?: (annotations: Record<string, string>) => AdmittedIdentity[] | undefined,
): ReconcilerPod {
  const labelled = v.labels[BINDING_LABEL] !== undefined;
  // Every field in one literal, in one order (no spreads, nothing added later): one hidden
  // class for every cached pod, its properties inside the object (an absent one is undefined).
  return {
    name: v.name,
    namespace: intern(v.namespace || "default"),
    uid: v.uid,
    // Pods without the binding label never need anything: keep them tiny.
    labels: labelled ? internMap(v.labels) : EMPTY_MAP,
    serviceAccountName: intern(v.serviceAccountName),
    hostNetwork: v.hostNetwork,
    nodeName: v.nodeName !== undefined ? intern(v.nodeName) : undefined,
    terminated: v.phase === "Succeeded" || v.phase === "Failed",
    scheduledAt: v.scheduledAt,
    admitted: labelled && admitted !== undefined ? admitted(v.annotations)?.map(internIdentity) : undefined,
  };
}

// --- the NMI: who is calling, and may it have a token ----------------------------------------

export interface NmiPod {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  phase: string;
  hostNetwork: boolean;
  serviceAccountName: string;
  podIPs: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Set while the pod is being deleted. */
  deleting: boolean;
  /**
   * While deleting: when its grace period ends (epoch ms; the API server sets the deletion
   * timestamp to the deletion time plus the grace period). Until then the pod is still served.
   */
  deletionDeadline?: number;
  creationTimestamp?: string;
}

const epochMs = (ts: string | undefined): number | undefined => {
  const at = ts !== undefined ? Date.parse(ts) : NaN;
  return Number.isNaN(at) ? undefined : at;
};

export function nmiPod(v: PodView): NmiPod {
  return {
    name: v.name,
    namespace: v.namespace,
    uid: v.uid,
    nodeName: v.nodeName ?? "",
    phase: v.phase,
    hostNetwork: v.hostNetwork,
    serviceAccountName: v.serviceAccountName,
    podIPs: v.podIPs,
    labels: v.labels,
    annotations: v.annotations,
    deleting: v.deletionTimestamp !== undefined,
    ...(epochMs(v.deletionTimestamp) !== undefined ? { deletionDeadline: epochMs(v.deletionTimestamp) } : {}),
    ...(v.creationTimestamp !== undefined ? { creationTimestamp: v.creationTimestamp } : {}),
  };
}

// --- the doctor: everything a person asks about one pod --------------------------------------

export interface DoctorPod extends AdmissionPod {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  phase?: string;
  podIP?: string;
  /** Env var names per container, to see what the webhook injected. */
  containers: Array<{ name: string; env: string[] }>;
}

function containerEnv(obj: unknown): DoctorPod["containers"] {
  const spec = isObject(obj) && isObject(obj.spec) ? obj.spec : {};
  const containers = Array.isArray(spec.containers) ? (spec.containers as unknown[]) : [];
  return containers.map((c) => {
    const o = isObject(c) ? c : {};
    const env = Array.isArray(o.env) ? (o.env as unknown[]) : [];
    return { name: str(o.name) ?? "", env: env.map((e) => (isObject(e) ? (str(e.name) ?? "") : "")) };
  });
}

export function doctorPod(obj: unknown): Parsed<DoctorPod> {
  const v = readPod(obj);
  if (!v.ok) return v;
  const p = v.value;
  const out: DoctorPod = {
    ...admissionPod(p),
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    ...(p.nodeName !== undefined ? { nodeName: p.nodeName } : {}),
    ...(isObject(obj) && isObject(obj.status) && str(obj.status.phase) !== undefined ? { phase: p.phase } : {}),
    ...(p.podIPs[0] !== undefined ? { podIP: p.podIPs[0] } : {}),
    containers: containerEnv(obj),
  };
  return { ok: true, value: out };
}

const internIdentity = (i: AdmittedIdentity): AdmittedIdentity => ({
  name: intern(i.name),
  clientID: intern(i.clientID),
  resourceID: i.resourceID !== undefined ? intern(i.resourceID) : undefined,
});

/** The informers' transforms: a watched pod to a program's projection. */
export const projectPod = <T>(fn: (v: PodView) => T, needNamespace = false): ((obj: unknown) => Parsed<T>) =>
  project(needNamespace, fn);
export const parseReconcilerPod = project(false, (v) => reconcilerPod(v));
export const parseNmiPod = project(true, nmiPod);
