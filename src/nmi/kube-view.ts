// The NMI's view of the cluster: informer caches for this node's pods and for podid's
// kinds, behind the NmiView interface the decisions read. Nothing here calls the API on the
// request path; the caches do the listing and watching.
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, KINDS, VERSION } from "../model/constants.ts";
import {
  parseAzureAssignedIdentity,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { Errors, isObject, readMeta } from "../model/read.ts";
import { startInformerCache, type InformerCache } from "../kube/cache.ts";
import { kubeRequest, resourcePath } from "../kube/request.ts";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
  Parsed,
} from "../model/types.ts";
import type { Logger } from "../shared/log.ts";
import { parseNmiPod, type NmiPod } from "./pod.ts";
import type { SecretReader } from "./token-sources.ts";
import type { NmiView } from "./view.ts";

export interface KubeView extends NmiView {
  /** Every watch is connected (none is between a failure and its relist). */
  healthy(): boolean;
  stop(): Promise<void>;
}

/** Namespaces as policies select them: labels only. */
function parseNamespaceLabels(obj: unknown): Parsed<{ name: string; labels: Record<string, string> }> {
  const errs = new Errors();
  const meta = readMeta(isObject(obj) ? obj : {}, errs);
  return errs.result({ name: meta.name, labels: meta.labels });
}

export async function startKubeView(kc: KubeConfig, nodeName: string, log: Logger): Promise<KubeView> {
  const onError = (what: string) => (err: unknown) =>
    log.warn({ err: err instanceof Error ? err.message : String(err) }, `watch of ${what} failed; restarting`);
  const crd = <T>(
    kind: keyof typeof KINDS,
    parse: (o: unknown) => { ok: true; value: T } | { ok: false; errors: Array<{ field: string; message: string }> },
  ) =>
    startInformerCache<T>(kc, {
      group: GROUP,
      version: VERSION,
      plural: KINDS[kind].plural,
      parse,
      onError: onError(KINDS[kind].plural),
    });
  const [pods, identities, bindings, exceptions, assigned, policies, namespaces] = await Promise.all([
    startInformerCache<NmiPod>(kc, {
      group: "",
      version: "v1",
      plural: "pods",
      fieldSelector: `spec.nodeName=${nodeName}`,
      parse: parseNmiPod,
      indexes: { ip: (p) => p.podIPs },
      onError: onError("pods"),
    }),
    crd<AzureIdentity>("AzureIdentity", parseAzureIdentity),
    crd<AzureIdentityBinding>("AzureIdentityBinding", parseAzureIdentityBinding),
    crd<AzurePodIdentityException>("AzurePodIdentityException", parseAzurePodIdentityException),
    crd<AzureAssignedIdentity>("AzureAssignedIdentity", parseAzureAssignedIdentity),
    // The namespace policy decides whether exceptions take effect and which identities are allowed.
    crd<AzurePodIdentityPolicy>("AzurePodIdentityPolicy", parseAzurePodIdentityPolicy),
    startInformerCache(kc, {
      group: "",
      version: "v1",
      plural: "namespaces",
      parse: parseNamespaceLabels,
      onError: onError("namespaces"),
    }),
  ]);
  const caches: Array<InformerCache<unknown>> = [
    pods,
    identities,
    bindings,
    exceptions,
    assigned,
    policies,
    namespaces,
  ];
  const listeners = new Set<() => void>();
  const offs = caches.map((c) => c.on(() => listeners.forEach((cb) => cb())));
  return {
    podsWithIp: (ip) => pods.byIndex("ip", ip),
    pod: (namespace, name) => pods.get(name, namespace),
    identities: (ns) => identities.list(ns),
    bindings: (ns) => bindings.list(ns),
    exceptions: (ns) => exceptions.list(ns),
    assigned: (ns) => assigned.list(ns),
    namespaceLabels: (ns) => namespaces.get(ns)?.labels ?? {},
    policies: () => policies.list(),
    onChange(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    synced: () => caches.every((c) => c.synced),
    healthy: () => caches.every((c) => c.healthy),
    async stop() {
      offs.forEach((off) => off());
      await Promise.all(caches.map((c) => c.stop()));
    },
  };
}

/** Reads a Secret's data, decoded, from the API (only when a token must be fetched). */
export function kubeSecretReader(kc: KubeConfig): SecretReader {
  return async (namespace, name) => {
    const s = await kubeRequest<{ data?: Record<string, string> }>(kc, {
      path: resourcePath({ group: "", version: "v1", plural: "secrets", namespace, name }),
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
    return out;
  };
}
