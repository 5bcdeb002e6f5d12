// Strings that thousands of cached objects repeat (a namespace, a node, an identity's resource
// ID and client ID, the scale set an identity was assigned to, label keys and values), kept
// once. A reconciler holding 7,500 labelled pods and their AzureAssignedIdentities would
// otherwise hold each of them 7,500 times; unique strings (names, UIDs) are not interned.
import type { AzureAssignedIdentity, ObjectMeta } from "./types.ts";

const MAX_ENTRIES = 65_536;
const table = new Map<string, string>();

export function intern(s: string): string {
  const hit = table.get(s);
  if (hit !== undefined) return hit;
  // A bound, not a cache policy: past it, new strings are simply kept as they came.
  if (table.size >= MAX_ENTRIES) table.clear();
  table.set(s, s);
  return s;
}

/** One shared, frozen empty map for every object without labels or annotations. */
export const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({});

export function internMap(m: Record<string, string>): Record<string, string> {
  const keys = Object.keys(m);
  if (keys.length === 0) return EMPTY_MAP;
  const out: Record<string, string> = {};
  for (const k of keys) out[intern(k)] = intern(m[k]!);
  return out;
}

// Each copy is one literal with every field, in one order (an absent one is undefined): one
// hidden class for all of them, properties inside the object. Adding a field afterwards, or a
// spread, would give each copy an out-of-object property array besides.
function compactMeta(m: ObjectMeta): ObjectMeta {
  return {
    name: m.name,
    namespace: m.namespace !== undefined ? intern(m.namespace) : undefined,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    generation: m.generation,
    labels: internMap(m.labels),
    annotations: internMap(m.annotations),
  };
}

type Status = NonNullable<AzureAssignedIdentity["status"]>;
type IdentityRef = AzureAssignedIdentity["spec"]["azureIdentityRef"];

const compactStatus = (s: Status): Status => ({
  status: s.status,
  reason: s.reason !== undefined ? intern(s.reason) : undefined,
  message: s.message,
  target: s.target !== undefined ? intern(s.target) : undefined,
  tokenSource: s.tokenSource,
  observedGeneration: s.observedGeneration,
});

const compactRef = (r: IdentityRef): IdentityRef => ({
  name: intern(r.name),
  namespace: intern(r.namespace),
  type: r.type,
  clientID: intern(r.clientID),
  resourceID: r.resourceID !== undefined ? intern(r.resourceID) : undefined,
});

/** The reconciler's copy of an AzureAssignedIdentity, with its repeated strings shared. */
export function compactAssigned(a: AzureAssignedIdentity): AzureAssignedIdentity {
  const { spec, status } = a;
  const ref = spec.azureIdentityRef;
  return {
    metadata: compactMeta(a.metadata),
    spec: {
      pod: spec.pod,
      podNamespace: intern(spec.podNamespace),
      podUID: spec.podUID,
      nodeName: intern(spec.nodeName),
      azureIdentityRef: compactRef(ref),
      azureBindingRef: {
        name: intern(spec.azureBindingRef.name),
        namespace: intern(spec.azureBindingRef.namespace),
        selector: intern(spec.azureBindingRef.selector),
      },
    },
    status: status !== undefined ? compactStatus(status) : undefined,
  };
}
