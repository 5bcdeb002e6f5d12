// Simulated nodes, scheduler and kubelet. Nodes carry Azure providerIDs and loopback
// InternalIPs (127.20.0.N); pods are bound round robin and get a distinct loopback pod IP
// (127.10.0.1 upwards, never a node IP or 127.0.0.1) so a process can bind or connect from
// it, then turn Running with the conditions a kubelet reports. hostNetwork pods get the node IP.
import { randomUUID } from "node:crypto";
import type { KubeApi, RequestCtx } from "../api.ts";
import { now } from "../api.ts";
import { ApiError } from "../status.ts";
import { clone, getPath, isRecord, type KObject, type ResourceDef } from "../types.ts";
import { KeyQueue } from "./queue.ts";

export interface NodeSpec {
  name: string;
  providerID: string;
  labels?: Record<string, string>;
}

export const KUBELET_VERSION = "v1.32.4";

export const DEFAULT_NODES: NodeSpec[] = [
  {
    name: "aks-nodepool1-12345678-vmss000000",
    providerID:
      "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_podid-rg_podid-aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0",
  },
  {
    name: "aks-nodepool1-12345678-vmss000001",
    providerID:
      "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_podid-rg_podid-aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/1",
  },
  {
    name: "aks-standalone-vm-0",
    providerID:
      "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_podid-rg_podid-aks_westeurope/providers/Microsoft.Compute/virtualMachines/aks-standalone-vm-0",
  },
];

/**
 * Which /24 of 127.20.0.0/16 the nodes take: PODID_PLAYGROUND_NODE_NET (0-200, default 0). Each
 * node's NMI listens on port 2579 of its node address, so a second playground on one machine
 * (another checkout, a parallel test run) needs a block of its own.
 */
export function nodeNet(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.PODID_PLAYGROUND_NODE_NET;
  if (v === undefined || v === "") return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 200)
    throw new Error(`PODID_PLAYGROUND_NODE_NET: expected a whole number from 0 to 200, got "${v}"`);
  return n;
}

/** The InternalIP of the i-th node (0-based). */
export const nodeIp = (i: number, net = nodeNet()): string => `127.20.${net + Math.floor(i / 254)}.${(i % 254) + 1}`;

/** Pod IPs: 127.10.0.1 … 127.19.255.254, reused after a pod is deleted. */
export class PodIpPool {
  private next = 0;
  private readonly free: number[] = [];
  private readonly used = new Set<string>();
  static readonly SIZE = 10 * 256 * 254;

  allocate(): string {
    const n = this.free.pop() ?? this.next++;
    if (n >= PodIpPool.SIZE)
      throw new Error("the playground's pod IP range (127.10.0.0/12 minus .0/.255) is exhausted");
    const ip = `127.${10 + Math.floor(n / (256 * 254))}.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
    this.used.add(ip);
    return ip;
  }

  reserve(ip: string): void {
    this.used.add(ip);
  }

  release(ip: string): void {
    if (!this.used.delete(ip)) return;
    const m = /^127\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (m === null) return;
    this.free.push((Number(m[1]) - 10) * 256 * 254 + Number(m[2]) * 254 + Number(m[3]) - 1);
  }
}

export function nodeObject(spec: NodeSpec, ip: string): KObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      labels: {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "Standard_D2s_v3",
        "topology.kubernetes.io/region": "westeurope",
        ...spec.labels,
      },
    },
    spec: { providerID: spec.providerID },
    status: {
      addresses: [
        { type: "InternalIP", address: ip },
        { type: "Hostname", address: spec.name },
      ],
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "kubelet is posting ready status",
          lastHeartbeatTime: now(),
          lastTransitionTime: now(),
        },
      ],
      capacity: { cpu: "2", memory: "8141444Ki", pods: "250" },
      allocatable: { cpu: "1900m", memory: "5474948Ki", pods: "250" },
      nodeInfo: {
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: KUBELET_VERSION,
        osImage: "Ubuntu 22.04.5 LTS",
        kernelVersion: "5.15.0-1079-azure",
        containerRuntimeVersion: "containerd://1.7.25-1",
        operatingSystem: "linux",
        architecture: "amd64",
      },
    },
  };
}

const node = (n: string): RequestCtx => ({
  user: { username: `system:node:${n}`, groups: ["system:nodes", "system:authenticated"] },
});
const SCHEDULER: RequestCtx = { user: { username: "system:kube-scheduler", groups: ["system:authenticated"] } };

/** What a kubelet reports for a pod it started: Running, Ready, with its containers' statuses. */
export function runningStatus(pod: KObject, hostIP: string, podIP: string): Record<string, unknown> {
  const t = now();
  const containers = getPath(pod, "spec.containers");
  const cond = (type: string): Record<string, unknown> => ({
    type,
    status: "True",
    lastProbeTime: null,
    lastTransitionTime: t,
  });
  return {
    phase: "Running",
    conditions: [
      cond("PodReadyToStartContainers"),
      cond("Initialized"),
      cond("Ready"),
      cond("ContainersReady"),
      cond("PodScheduled"),
    ],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: t,
    qosClass: "BestEffort",
    containerStatuses: (Array.isArray(containers) ? containers : []).filter(isRecord).map((c) => ({
      name: c.name,
      ready: true,
      started: true,
      restartCount: 0,
      image: c.image,
      imageID: `docker.io/library/${String(c.image)}@sha256:${"0".repeat(64)}`,
      containerID: `containerd://${(String(pod.metadata.uid) + String(c.name))
        .replace(/[^a-f0-9]/g, "")
        .padEnd(64, "0")
        .slice(0, 64)}`,
      state: { running: { startedAt: t } },
      lastState: {},
    })),
  };
}

export interface NodeSimOptions {
  nodes: NodeSpec[];
  /** false: nodes only; pods stay unscheduled and Pending. */
  simulate: boolean;
  onError(what: string, err: unknown): void;
}

export interface NodeSim {
  nodeIps: Map<string, string>;
  stop(): void;
}

/** Creates the nodes, then schedules and "runs" every pod. */
export function startNodeSimulation(api: KubeApi, opts: NodeSimOptions): NodeSim {
  const { store, registry } = api;
  const podDef = registry.byResourceKey("pods")!;
  const nodeDef = registry.byResourceKey("nodes")!;
  const nodeIps = new Map<string, string>();
  opts.nodes.forEach((n, i) => nodeIps.set(n.name, nodeIp(i)));
  for (const n of opts.nodes) {
    if (store.get(nodeDef, "", n.name) === undefined)
      store.put(nodeDef, {
        ...nodeObject(n, nodeIps.get(n.name)!),
        metadata: { ...nodeObject(n, nodeIps.get(n.name)!).metadata, uid: randomUUID(), creationTimestamp: now() },
      });
  }
  if (!opts.simulate) return { nodeIps, stop: () => undefined };
  api.gracefulPodDeletion = true;
  const nodes = new Set(opts.nodes.map((n) => n.name));
  const pool = new PodIpPool();
  let rr = 0;
  const names = opts.nodes.map((n) => n.name);

  const reconcile = async (key: string): Promise<void> => {
    const [ns, name] = key.split("/", 2) as [string, string];
    const pod = store.get(podDef, ns, name);
    if (pod === undefined) return;
    const nodeName = getPath(pod, "spec.nodeName");
    if (pod.metadata.deletionTimestamp !== undefined) {
      // The kubelet stops the containers (at once, here) and removes the pod with grace period 0.
      if (typeof nodeName === "string" && nodes.has(nodeName) && (pod.metadata.deletionGracePeriodSeconds ?? 0) > 0) {
        await api.delete(
          podDef,
          ns,
          name,
          { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
          node(nodeName),
        );
      }
      return;
    }
    if (typeof nodeName !== "string" || nodeName === "") {
      if (names.length === 0) return;
      await bind(api, podDef, pod, names[rr++ % names.length]!, SCHEDULER);
      return;
    }
    if (getPath(pod, "status.phase") !== "Pending") return;
    const hostIP = nodeIps.get(nodeName);
    // A pod bound to a node that does not exist stays Pending, as no kubelet picks it up.
    if (hostIP === undefined) return;
    const podIP = getPath(pod, "spec.hostNetwork") === true ? hostIP : pool.allocate();
    try {
      await api.update(
        podDef,
        ns,
        name,
        { ...clone(pod), status: runningStatus(pod, hostIP, podIP) },
        node(nodeName),
        "status",
      );
    } catch (err) {
      if (podIP !== hostIP) pool.release(podIP);
      throw err;
    }
  };
  const queue = new KeyQueue(reconcile, (key, err) => {
    if (err instanceof ApiError && (err.code === 404 || err.code === 409)) {
      if (err.code === 409) queue.add(key);
      return;
    }
    opts.onError(`kubelet for pod ${key}`, err);
  });
  for (const p of store.list(podDef)) queue.add(`${p.metadata.namespace}/${p.metadata.name}`);
  const unsubscribe = store.onEvent((resource, ev) => {
    if (resource !== "pods") return;
    if (ev.type === "DELETED") {
      const ip = getPath(ev.object, "status.podIP");
      if (typeof ip === "string" && getPath(ev.object, "spec.hostNetwork") !== true) pool.release(ip);
      return;
    }
    queue.add(`${ev.object.metadata.namespace}/${ev.object.metadata.name}`);
  });
  return {
    nodeIps,
    stop: () => {
      unsubscribe();
      queue.stop();
    },
  };
}

/** pods/binding: the scheduler's (or a client's) assignment of a pod to a node. */
export async function bind(
  api: KubeApi,
  podDef: ResourceDef,
  pod: KObject,
  nodeName: string,
  ctx: RequestCtx,
): Promise<KObject> {
  const ns = pod.metadata.namespace!;
  const name = pod.metadata.name!;
  const current = getPath(pod, "spec.nodeName");
  if (typeof current === "string" && current !== "") {
    throw new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${current}"`,
      { name, kind: "pods/binding" },
    );
  }
  const binding = {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name, namespace: ns, uid: pod.metadata.uid },
    target: { apiVersion: "v1", kind: "Node", name: nodeName },
  };
  await api.admission.validate({
    def: podDef,
    subresource: "binding",
    kind: { group: "", version: "v1", kind: "Binding" },
    operation: "CREATE",
    namespace: ns,
    name,
    object: binding,
    dryRun: ctx.dryRun === true,
    options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    user: ctx.user,
  });
  if (ctx.dryRun === true) return binding;
  const latest = api.store.get(podDef, ns, name);
  if (latest === undefined || latest.metadata.uid !== pod.metadata.uid)
    throw new ApiError(404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" });
  const latestNode = getPath(latest, "spec.nodeName");
  if (typeof latestNode === "string" && latestNode !== "") {
    throw new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${latestNode}"`,
      { name, kind: "pods/binding" },
    );
  }
  const next = clone(latest);
  (next.spec as Record<string, unknown>).nodeName = nodeName;
  const status = isRecord(next.status) ? next.status : {};
  status.conditions = [{ type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: now() }];
  next.status = status;
  api.store.put(podDef, next);
  return binding;
}
