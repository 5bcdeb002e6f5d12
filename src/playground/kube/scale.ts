// The `scale` subresource of Deployments, ReplicaSets and StatefulSets (autoscaling/v1 Scale),
// which `kubectl scale` reads and patches. Pure conversions; the write is a patch of
// spec.replicas on the main object.
import { isRecord, text, type KObject } from "./types.ts";

/** A metav1.LabelSelector as the string form Scale.status.selector carries. */
export function selectorString(sel: unknown): string {
  if (!isRecord(sel)) return "";
  const parts: string[] = [];
  if (isRecord(sel.matchLabels)) for (const [k, v] of Object.entries(sel.matchLabels)) parts.push(`${k}=${text(v)}`);
  if (Array.isArray(sel.matchExpressions)) {
    for (const e of sel.matchExpressions as unknown[]) {
      if (!isRecord(e)) continue;
      const values = Array.isArray(e.values) ? (e.values as unknown[]).map(text).join(",") : "";
      const op = text(e.operator);
      if (op === "In") parts.push(`${text(e.key)} in (${values})`);
      else if (op === "NotIn") parts.push(`${text(e.key)} notin (${values})`);
      else if (op === "Exists") parts.push(text(e.key));
      else if (op === "DoesNotExist") parts.push(`!${text(e.key)}`);
    }
  }
  return parts.join(",");
}

export function toScale(o: KObject): KObject {
  const spec = isRecord(o.spec) ? o.spec : {};
  const status = isRecord(o.status) ? o.status : {};
  const m = o.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: typeof spec.replicas === "number" ? spec.replicas : 1 },
    status: {
      replicas: typeof status.replicas === "number" ? status.replicas : 0,
      selector: selectorString(spec.selector),
    },
  };
}

/** spec.replicas of a Scale body, or an error text naming the field. */
export function replicasOf(scale: unknown): number | string {
  const r = isRecord(scale) && isRecord(scale.spec) ? scale.spec.replicas : undefined;
  if (typeof r !== "number" || !Number.isInteger(r) || r < 0)
    return `spec.replicas: Invalid value: ${JSON.stringify(r ?? null)}: must be greater than or equal to 0`;
  return r;
}
