// The webhook's state from the watch layer (src/kube): namespaces (name and labels only),
// identities, bindings (also indexed by selector across namespaces), exceptions and
// policies. Nothing on the admission path calls the API.
import type { KubeConfig } from "@kubernetes/client-node";
import { startInformers } from "../kube/informers.ts";
import { core, podidKind } from "../kube/resources.ts";
import { parseNamespace } from "../model/cluster.ts";
import type { AzureIdentityBinding } from "../model/types.ts";
import type { WebhookState } from "./state.ts";

const BY_SELECTOR = "selector";

export interface CacheState extends WebhookState {
  stop(): Promise<void>;
}

const informers = () => ({
  namespaces: core("namespaces", parseNamespace),
  identities: podidKind("AzureIdentity"),
  bindings: podidKind("AzureIdentityBinding", {
    indexes: { [BY_SELECTOR]: (b: AzureIdentityBinding) => [b.selector] },
  }),
  exceptions: podidKind("AzurePodIdentityException"),
  policies: podidKind("AzurePodIdentityPolicy"),
});

export async function startCacheState(kc: KubeConfig, onError: (err: unknown) => void): Promise<CacheState> {
  const set = await startInformers(kc, informers(), { onError: (_resource, err) => onError(err) });
  const { namespaces, identities, bindings, exceptions, policies } = set.caches;
  return {
    // Ready while the watches are current, or were until recently: a blip does not take the
    // webhook out of its Service (admission would then fail for every labelled pod).
    synced: () => set.ready(),
    namespaceLabels: (ns) => namespaces.get(ns)?.labels ?? {},
    bindings: (ns) => bindings.list(ns),
    identities: (ns) => identities.list(ns),
    exceptions: (ns) => exceptions.list(ns),
    policies: () => policies.list(),
    selectorNamespaces: (sel) => [
      ...new Set(bindings.byIndex(BY_SELECTOR, sel).map((b) => b.metadata.namespace ?? "")),
    ],
    stop: () => set.stop(),
  };
}
