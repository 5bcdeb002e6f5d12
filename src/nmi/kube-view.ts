// The NMI's view of the cluster: informers (src/kube's watch layer) for this node's pods and
// for podid's kinds, behind the NmiView interface the decisions read. Nothing here calls the
// API on the request path while the watches are current. While the pod watch is broken the
// view re-reads this node's pods from the API server for each request (fresh or nothing: a
// pod address reused during the outage must not be taken for the pod that had it); while
// another watch is broken, or that read fails, it says so and the NMI answers 503.
import type { KubeConfig } from "@kubernetes/client-node";
import { listOnce } from "../kube/cache.ts";
import { startInformers } from "../kube/informers.ts";
import { core, podidKind } from "../kube/resources.ts";
import { kubeRequest, resourcePath } from "../kube/request.ts";
import { parseNamespace } from "../model/cluster.ts";
import type { Logger } from "../shared/log.ts";
import { parseNmiPod, type NmiPod } from "./pod.ts";
import type { SecretReader } from "./token-sources.ts";
import type { NmiView, Vouched } from "./view.ts";

export interface KubeView extends NmiView {
  /** Every watch is current (none is between a failure or 410 and its resume or relist). */
  healthy(): boolean;
  stop(): Promise<void>;
}

function informers(nodeName: string) {
  return {
    pods: core("pods", parseNmiPod, {
      fieldSelector: `spec.nodeName=${nodeName}`,
      indexes: { ip: (p: NmiPod) => p.podIPs },
    }),
    identities: podidKind("AzureIdentity"),
    bindings: podidKind("AzureIdentityBinding"),
    exceptions: podidKind("AzurePodIdentityException"),
    assigned: podidKind("AzureAssignedIdentity"),
    // The namespace policy decides whether exceptions take effect and which identities are allowed.
    policies: podidKind("AzurePodIdentityPolicy"),
    namespaces: core("namespaces", parseNamespace),
  };
}

/** This node's pods as just read from the API server, for as long as the pod watch is broken. */
export interface PodSnapshot {
  /** When the read started: a snapshot older than the outage vouches for nothing. */
  at: number;
  byIp: Map<string, NmiPod[]>;
  byName: Map<string, NmiPod>;
}

function snapshot(pods: NmiPod[], at: number): PodSnapshot {
  const s: PodSnapshot = { at, byIp: new Map(), byName: new Map() };
  for (const p of pods) {
    s.byName.set(`${p.namespace}/${p.name}`, p);
    for (const ip of p.podIPs) s.byIp.set(ip, [...(s.byIp.get(ip) ?? []), p]);
  }
  return s;
}

/**
 * Re-reads the node's pods, one read for all the requests waiting: a request joins the read in
 * progress if that read began after the request arrived, else the one read that starts when
 * it ends (never one read per request).
 */
export function podRereader(read: () => Promise<NmiPod[]>): (arrived: number) => Promise<PodSnapshot> {
  let current: { started: number; done: Promise<PodSnapshot> } | undefined;
  let next: Promise<PodSnapshot> | undefined;
  const start = (): Promise<PodSnapshot> => {
    const started = Date.now();
    const done = read().then((pods) => snapshot(pods, started));
    current = { started, done };
    void done
      .finally(() => {
        if (current?.done === done) current = undefined;
      })
      .catch(() => undefined);
    return done;
  };
  return (arrived) => {
    if (current === undefined) return start();
    if (current.started >= arrived) return current.done;
    next ??= current.done
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}

export async function startKubeView(kc: KubeConfig, nodeName: string, log: Logger): Promise<KubeView> {
  const set = await startInformers(kc, informers(nodeName), {
    onError: (resource, err) =>
      log.warn({ err: err instanceof Error ? err.message : String(err) }, `watch of ${resource} failed; restarting`),
  });
  const { pods, identities, bindings, exceptions, assigned, policies, namespaces } = set.caches;
  const reread = podRereader(async () => {
    const r = await listOnce(kc, { ...core("pods", parseNmiPod), fieldSelector: `spec.nodeName=${nodeName}` });
    return r.items;
  });
  let fresh: PodSnapshot | undefined;
  const nothing = snapshot([], 0);
  // While the pod watch is broken the pods come from a read made since it broke, or there
  // are none: the cache, stale by then, is never the answer.
  const broken = (): PodSnapshot | undefined => {
    const h = pods.health();
    if (h.watching) return undefined;
    return fresh !== undefined && fresh.at >= h.since ? fresh : nothing;
  };
  return {
    podsWithIp: (ip) => {
      const s = broken();
      return s !== undefined ? (s.byIp.get(ip) ?? []) : pods.byIndex("ip", ip);
    },
    pod: (namespace, name) => {
      const s = broken();
      return s !== undefined ? s.byName.get(`${namespace}/${name}`) : pods.get(name, namespace);
    },
    identities: (ns) => identities.list(ns),
    bindings: (ns) => bindings.list(ns),
    exceptions: (ns) => exceptions.list(ns),
    assigned: (ns) => assigned.list(ns),
    namespaceLabels: (ns) => namespaces.get(ns)?.labels ?? {},
    policies: () => policies.list(),
    onChange: (cb) => set.onChange(cb),
    synced: () => set.synced(),
    watching: () => set.watching(),
    healthy: () => set.watching(),
    async vouch(): Promise<Vouched> {
      const arrived = Date.now();
      const broken = set.health().filter((h) => !h.watching && h.name !== "pods");
      if (broken.length > 0)
        return { fresh: false, reason: `the watch of ${broken.map((h) => h.resource).join(", ")} is broken` };
      if (set.watching(["pods"])) return { fresh: true };
      try {
        fresh = await reread(arrived);
        return { fresh: true };
      } catch (err) {
        const reason = `the pod watch is broken and the pods could not be re-read: ${err instanceof Error ? err.message : String(err)}`;
        log.warn({ nodeName }, reason);
        return { fresh: false, reason };
      }
    },
    stop: () => set.stop(),
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
