// The webhook's state from client-node informers: namespaces (labels only), identities,
// bindings (also indexed by selector across namespaces), exceptions and policies. Nothing on
// the admission path calls the API.
import type { KubeConfig } from "@kubernetes/client-node";
import { startInformerCache, type InformerCache } from "../kube/cache.ts";
import { GROUP, KINDS, VERSION } from "../model/constants.ts";
import {
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { Errors, isObject, readMeta } from "../model/read.ts";
import type { AzureIdentityBinding, Parsed } from "../model/types.ts";
import type { WebhookState } from "./state.ts";

interface NamespaceView {
  name: string;
  labels: Record<string, string>;
}

function parseNamespace(obj: unknown): Parsed<NamespaceView> {
  const errs = new Errors();
  const meta = readMeta(isObject(obj) ? obj : {}, errs);
  return errs.result({ name: meta.name, labels: meta.labels });
}

const BY_SELECTOR = "selector";

export interface CacheState extends WebhookState {
  stop(): Promise<void>;
}

export async function startCacheState(kc: KubeConfig, onError: (err: unknown) => void): Promise<CacheState> {
  const crd = <T>(
    kind: keyof typeof KINDS,
    parse: (o: unknown) => Parsed<T>,
    indexes?: Record<string, (v: T) => string[]>,
  ): Promise<InformerCache<T>> =>
    startInformerCache(kc, {
      group: GROUP,
      version: VERSION,
      plural: KINDS[kind].plural,
      parse,
      onError,
      ...(indexes !== undefined ? { indexes } : {}),
    });
  const [namespaces, identities, bindings, exceptions, policies] = await Promise.all([
    startInformerCache(kc, { group: "", version: "v1", plural: "namespaces", parse: parseNamespace, onError }),
    crd("AzureIdentity", parseAzureIdentity),
    crd("AzureIdentityBinding", parseAzureIdentityBinding, {
      [BY_SELECTOR]: (b: AzureIdentityBinding) => [b.selector],
    }),
    crd("AzurePodIdentityException", parseAzurePodIdentityException),
    crd("AzurePodIdentityPolicy", parseAzurePodIdentityPolicy),
  ]);
  const all = [namespaces, identities, bindings, exceptions, policies];
  return {
    synced: () => all.every((c) => c.synced),
    namespaceLabels: (ns) => namespaces.get(ns)?.labels ?? {},
    bindings: (ns) => bindings.list(ns),
    identities: (ns) => identities.list(ns),
    exceptions: (ns) => exceptions.list(ns),
    policies: () => policies.list(),
    selectorNamespaces: (sel) => [
      ...new Set(bindings.byIndex(BY_SELECTOR, sel).map((b) => b.metadata.namespace ?? "")),
    ],
    async stop() {
      await Promise.all(all.map((c) => c.stop()));
    },
  };
}
