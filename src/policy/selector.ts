// Label selector and pattern matching, as Kubernetes and the policy kind define them.
import type { LabelSelector } from "../model/types.ts";

/** Kubernetes semantics: all matchLabels and all matchExpressions must hold; the empty selector matches everything. */
export function matchesLabelSelector(labels: Record<string, string>, sel: LabelSelector): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const values = r.values ?? [];
    switch (r.operator) {
      case "In":
        if (!has || !values.includes(labels[r.key]!)) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[r.key]!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when the pod carries every label of the exception (the exception's own namespace is the caller's concern). */
export function matchesAllLabels(podLabels: Record<string, string>, required: Record<string, string>): boolean {
  const entries = Object.entries(required);
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

const globCache = new Map<string, RegExp>();
/** Case-insensitive glob: `*` matches any run of characters (slashes included), the rest literally. */
export function globMatch(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    const body = pattern
      .trim()
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*");
    re = new RegExp(`^${body}$`, "is");
    if (globCache.size > 1000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re.test(value.trim());
}
