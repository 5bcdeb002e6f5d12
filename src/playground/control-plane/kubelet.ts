// What a scheduler and a kubelet would write, done by hand through the real API: nodes with an
// Azure providerID and loopback addresses, pods bound to a node (pods/binding) and reported
// running with a pod IP (pods/status). The real control plane has neither a scheduler nor a
// kubelet; the real-cluster tests and `podid playground --kube=real` use these.
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../../kube/request.ts";
import { nodeObject } from "../kube/controllers/nodes.ts";

export interface NodeSpec {
  name: string;
  providerID?: string;
  /** The node's InternalIP (a loopback address in tests). */
  internalIP: string;
  labels?: Record<string, string>;
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * Creates the Node (as a kubelet registers it) and reports it Ready with its address, capacity and
 * node info, the same as the emulator's nodes (so `kubectl get nodes -o wide` reads alike).
 */
export async function registerNode(kc: KubeConfig, n: NodeSpec): Promise<void> {
  const like = nodeObject({ name: n.name, providerID: n.providerID ?? "", labels: n.labels ?? {} }, n.internalIP);
  await kubeRequest(kc, {
    method: "POST",
    path: "/api/v1/nodes",
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: n.name, labels: like.metadata.labels },
      spec: n.providerID !== undefined ? { providerID: n.providerID } : {},
    },
  });
  await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/nodes/${encodeURIComponent(n.name)}/status`,
    contentType: "application/merge-patch+json",
    body: { status: like.status },
  });
}

/** Binds a pending pod to a node, as the scheduler does. */
export async function bindPod(kc: KubeConfig, namespace: string, name: string, node: string): Promise<void> {
  await kubeRequest(kc, {
    method: "POST",
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/binding`,
    body: {
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name, namespace },
      target: { apiVersion: "v1", kind: "Node", name: node },
    },
  });
}

export interface RunningStatus {
  podIP: string;
  hostIP: string;
  /** Default Running. */
  phase?: "Running" | "Succeeded" | "Failed";
}

/** Reports a bound pod's status as its kubelet would: phase, addresses, Ready. */
export async function reportPodStatus(
  kc: KubeConfig,
  namespace: string,
  name: string,
  s: RunningStatus,
): Promise<void> {
  const phase = s.phase ?? "Running";
  const ready = phase === "Running" ? "True" : "False";
  await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/status`,
    contentType: "application/merge-patch+json",
    body: {
      status: {
        phase,
        podIP: s.podIP,
        podIPs: [{ ip: s.podIP }],
        hostIP: s.hostIP,
        startTime: now(),
        conditions: [
          { type: "Initialized", status: "True", lastTransitionTime: now() },
          { type: "Ready", status: ready, lastTransitionTime: now() },
          { type: "ContainersReady", status: ready, lastTransitionTime: now() },
          { type: "PodScheduled", status: "True", lastTransitionTime: now() },
        ],
      },
    },
  });
}

/** bindPod then reportPodStatus: the pod is running on `node` at `podIP`. */
export async function runPod(
  kc: KubeConfig,
  namespace: string,
  name: string,
  node: string,
  ips: { podIP: string; hostIP: string },
): Promise<void> {
  await bindPod(kc, namespace, name, node);
  await reportPodStatus(kc, namespace, name, ips);
}
