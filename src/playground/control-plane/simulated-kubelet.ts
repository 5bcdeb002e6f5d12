// The scheduler and the kubelets of a real control plane that has neither, acting only through
// its API, as the real ones would: a pod with no node is bound to one (`pods/binding`, round
// robin, honouring a DaemonSet pod's node affinity), a pod bound to one of these nodes is
// reported Running with a loopback pod IP (`pods/status`; hostNetwork pods get the node's
// address), and a pod being deleted gracefully is removed with grace period 0 once its
// "containers" stopped (at once here). Used by `podid playground --kube=real` and the
// real-cluster tests. Events come from a client-node informer, restarted when the watch fails
// (an API server restart).
import { CoreV1Api, makeInformer, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { isConflict, isNotFound, kubeRequest } from "../../kube/request.ts";
import { KeyQueue } from "../kube/controllers/queue.ts";
import { PodIpPool, runningStatus } from "../kube/controllers/nodes.ts";
import type { KObject } from "../kube/types.ts";
import { bindPod } from "./kubelet.ts";

export interface SimulatedNode {
  name: string;
  internalIP: string;
}

export interface SimulatedKubeletOptions {
  nodes: SimulatedNode[];
  /** Which pods to act on (default: all); tests keep to their own namespaces. */
  selectPod?: (namespace: string, pod: V1Pod) => boolean;
  onError?: (what: string, err: unknown) => void;
  /** Wait before restarting a failed watch (default 500 ms). */
  restartDelayMs?: number;
}

export interface SimulatedKubelet {
  /** Resolves once the first list is in. */
  ready: Promise<void>;
  stop(): void;
}

/** The node a pod's required node affinity names (`metadata.name In [n]`, as the DaemonSet controller writes). */
export function affinityNode(pod: V1Pod): string | undefined {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  for (const t of terms ?? [])
    for (const f of t.matchFields ?? [])
      if (f.key === "metadata.name" && f.operator === "In" && f.values?.length === 1) return f.values[0];
  return undefined;
}

/** What the kubelet must do with a pod, as a pure decision. */
export type KubeletAction =
  { do: "bind"; node: string } | { do: "run"; node: string } | { do: "remove"; uid: string } | { do: "nothing" };

export function kubeletAction(pod: V1Pod, nodes: ReadonlySet<string>, next: () => string): KubeletAction {
  const node = pod.spec?.nodeName ?? "";
  if (pod.metadata?.deletionTimestamp !== undefined)
    return nodes.has(node) && pod.metadata.uid !== undefined
      ? { do: "remove", uid: pod.metadata.uid }
      : { do: "nothing" };
  if (node === "") {
    const wanted = affinityNode(pod);
    if (wanted !== undefined) return nodes.has(wanted) ? { do: "bind", node: wanted } : { do: "nothing" };
    return nodes.size > 0 ? { do: "bind", node: next() } : { do: "nothing" };
  }
  if (nodes.has(node) && (pod.status?.phase ?? "Pending") === "Pending") return { do: "run", node };
  return { do: "nothing" };
}

export function startSimulatedKubelet(kc: KubeConfig, opts: SimulatedKubeletOptions): SimulatedKubelet {
  const onError = opts.onError ?? (() => undefined);
  const nodeIps = new Map(opts.nodes.map((n) => [n.name, n.internalIP]));
  const names = opts.nodes.map((n) => n.name);
  const nodes = new Set(names);
  const pool = new PodIpPool();
  const ips = new Map<string, string>();
  let rr = 0;
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
  const select = (p: V1Pod): boolean => opts.selectPod === undefined || opts.selectPod(p.metadata?.namespace ?? "", p);

  const act = async (key: string): Promise<void> => {
    const [ns, name] = key.split("/", 2) as [string, string];
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
    const pod = await kubeRequest<V1Pod>(kc, { path }).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (pod === undefined) return;
    const a = kubeletAction(pod, nodes, () => names[rr++ % names.length]!);
    if (a.do === "bind") await bindPod(kc, ns, name, a.node);
    else if (a.do === "remove")
      await kubeRequest(kc, {
        method: "DELETE",
        path,
        body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0, preconditions: { uid: a.uid } },
      });
    else if (a.do === "run") {
      const hostIP = nodeIps.get(a.node)!;
      const uid = pod.metadata?.uid ?? key;
      const podIP = pod.spec?.hostNetwork === true ? hostIP : (ips.get(uid) ?? pool.allocate());
      if (pod.spec?.hostNetwork !== true) ips.set(uid, podIP);
      // The emulator's kubelet report (conditions, container statuses), so both read alike in kubectl.
      await kubeRequest(kc, {
        method: "PATCH",
        path: `${path}/status`,
        contentType: "application/merge-patch+json",
        body: { status: runningStatus(pod as unknown as KObject, hostIP, podIP) },
      });
    }
  };
  const queue = new KeyQueue(act, (key, err) => {
    if (isNotFound(err)) return;
    if (isConflict(err)) {
      setTimeout(() => queue.add(key), 100);
      return;
    }
    onError(`kubelet for pod ${key}`, err);
    setTimeout(() => queue.add(key), 1000);
  });
  const enqueue = (p: V1Pod): void => {
    if (select(p)) queue.add(`${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`);
  };
  informer.on("add", enqueue);
  informer.on("update", enqueue);
  informer.on("delete", (p) => {
    const uid = p.metadata?.uid;
    const ip = uid !== undefined ? ips.get(uid) : undefined;
    if (uid !== undefined && ip !== undefined) {
      ips.delete(uid);
      pool.release(ip);
    }
  });
  let stopped = false;
  // A failed watch (the API server went away) stops the informer; start it again until its list succeeds.
  const restart = (): void => {
    setTimeout(() => {
      if (stopped) return;
      informer.start().catch((e: unknown) => {
        onError("restarting the kubelet's pod watch", e);
        restart();
      });
    }, opts.restartDelayMs ?? 500);
  };
  informer.on("error", (err: unknown) => {
    if (stopped) return;
    onError("the kubelet's pod watch", err);
    restart();
  });
  const ready = informer.start();
  return {
    ready,
    stop() {
      stopped = true;
      queue.stop();
      void informer.stop();
    },
  };
}
