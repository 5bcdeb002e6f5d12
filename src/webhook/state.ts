// What the webhook's decisions read: the cluster's podid objects and namespace labels, from
// informer caches in production (no API call on the admission path) and from memory in tests
// and the benchmark. Bindings are also indexed by selector across namespaces, for the
// cross-namespace check.
import type {
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";

export interface WebhookState {
  synced(): boolean;
  namespaceLabels(namespace: string): Record<string, string>;
  bindings(namespace: string): AzureIdentityBinding[];
  identities(namespace: string): AzureIdentity[];
  exceptions(namespace: string): AzurePodIdentityException[];
  policies(): AzurePodIdentityPolicy[];
  /** Namespaces holding a binding with this selector. */
  selectorNamespaces(selector: string): string[];
}

export interface StateObjects {
  namespaces?: Record<string, Record<string, string>>;
  bindings?: AzureIdentityBinding[];
  identities?: AzureIdentity[];
  exceptions?: AzurePodIdentityException[];
  policies?: AzurePodIdentityPolicy[];
}

function byNamespace<T extends { metadata: { namespace?: string } }>(items: readonly T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) {
    const ns = i.metadata.namespace ?? "";
    const list = m.get(ns);
    if (list === undefined) m.set(ns, [i]);
    else list.push(i);
  }
  return m;
}

/** A fixed in-memory state (tests, benchmark). */
export function memoryState(o: StateObjects): WebhookState {
  const bindings = byNamespace(o.bindings ?? []);
  const identities = byNamespace(o.identities ?? []);
  const exceptions = byNamespace(o.exceptions ?? []);
  const selectors = new Map<string, Set<string>>();
  for (const b of o.bindings ?? []) {
    const s = selectors.get(b.selector) ?? new Set<string>();
    s.add(b.metadata.namespace ?? "");
    selectors.set(b.selector, s);
  }
  return {
    synced: () => true,
    namespaceLabels: (ns) => o.namespaces?.[ns] ?? {},
    bindings: (ns) => bindings.get(ns) ?? [],
    identities: (ns) => identities.get(ns) ?? [],
    exceptions: (ns) => exceptions.get(ns) ?? [],
    policies: () => o.policies ?? [],
    selectorNamespaces: (sel) => [...(selectors.get(sel) ?? [])],
  };
}
