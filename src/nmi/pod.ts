// The few pod fields the NMI decides on, read once from the API object. Pods are not a
// podid kind, so this parser lives with the only program that needs it this way.
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

type Parsed = { ok: true; value: NmiPod } | { ok: false; errors: Array<{ field: string; message: string }> };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

function podIPs(status: Record<string, unknown>): string[] {
  const ips = new Set<string>();
  if (typeof status.podIP === "string" && status.podIP !== "") ips.add(status.podIP);
  if (Array.isArray(status.podIPs)) {
    for (const p of status.podIPs) if (isRecord(p) && typeof p.ip === "string" && p.ip !== "") ips.add(p.ip);
  }
  return [...ips];
}

function deadline(ts: unknown): { deletionDeadline?: number } {
  const at = typeof ts === "string" ? Date.parse(ts) : NaN;
  return Number.isNaN(at) ? {} : { deletionDeadline: at };
}

export function parseNmiPod(obj: unknown): Parsed {
  if (!isRecord(obj) || !isRecord(obj.metadata))
    return { ok: false, errors: [{ field: "metadata", message: "expected an object" }] };
  const md = obj.metadata;
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const status = isRecord(obj.status) ? obj.status : {};
  const name = str(md.name);
  const namespace = str(md.namespace);
  if (name === "" || namespace === "") {
    return { ok: false, errors: [{ field: "metadata.name", message: "pods need a name and a namespace" }] };
  }
  return {
    ok: true,
    value: {
      name,
      namespace,
      uid: str(md.uid),
      nodeName: str(spec.nodeName),
      phase: str(status.phase) || "Pending",
      hostNetwork: spec.hostNetwork === true,
      serviceAccountName: str(spec.serviceAccountName) || "default",
      podIPs: podIPs(status),
      labels: stringMap(md.labels),
      annotations: stringMap(md.annotations),
      deleting: md.deletionTimestamp !== undefined && md.deletionTimestamp !== null,
      ...deadline(md.deletionTimestamp),
      creationTimestamp: typeof md.creationTimestamp === "string" ? md.creationTimestamp : undefined,
    },
  };
}
