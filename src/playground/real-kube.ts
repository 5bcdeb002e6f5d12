// `podid playground --kube=real`: the playground's Kubernetes side on the real kube-apiserver,
// kube-controller-manager and etcd (src/playground/control-plane, binaries from
// KUBEBUILDER_ASSETS) instead of the emulator, with the playground's nodes registered (Azure
// providerIDs, loopback addresses) and the simulated scheduler and kubelet acting through the
// real API. Everything else in the playground stays as it is.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { isAlreadyExists, isNotFound, kubeRequest } from "../kube/request.ts";
import type { Logger } from "../shared/log.ts";
import { startControlPlane, type ControlPlane } from "./control-plane/index.ts";
import { registerNode } from "./control-plane/kubelet.ts";
import { startSimulatedKubelet } from "./control-plane/simulated-kubelet.ts";
import { nodeIp } from "./kube/controllers/nodes.ts";
import type { KubeSide } from "./main.ts";

export interface RealKubeOptions {
  /** The control plane's state folder (PKI, admin kubeconfig, logs): kept after stop. */
  dir: string;
  nodes: Array<{ name: string; providerID: string }>;
  /** Schedule pods and report them running (default true). */
  simulateKubelet?: boolean;
  port?: number;
  logger: Logger;
}

export interface RealKube extends KubeSide {
  controlPlane: ControlPlane;
  kc: KubeConfig;
}

export async function startRealKube(o: RealKubeOptions): Promise<RealKube> {
  const cp = await startControlPlane({ dir: o.dir, ...(o.port !== undefined ? { port: o.port } : {}) });
  try {
    const nodes = o.nodes.map((n, i) => ({ ...n, internalIP: nodeIp(i) }));
    for (const n of nodes) {
      try {
        await registerNode(cp.kc, n);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }
    const kubelet =
      o.simulateKubelet === false
        ? undefined
        : startSimulatedKubelet(cp.kc, {
            nodes,
            onError: (what, err) =>
              o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, `${what} failed`),
          });
    await kubelet?.ready;
    await defaultServiceAccount(cp);
    return {
      url: cp.url,
      caPem: cp.caPem,
      kubeconfigYaml: () => readFileSync(cp.kubeconfigPath, "utf8"),
      nodeIps: new Map(nodes.map((n) => [n.name, n.internalIP])),
      controlPlane: cp,
      kc: cp.kc,
      async stop() {
        kubelet?.stop();
        await cp.stop();
      },
    };
  } catch (e) {
    await cp.stop();
    throw e;
  }
}

/**
 * Waits for the controller-manager to give namespace `default` its ServiceAccount: until then the
 * API server refuses every pod there (`error looking up service account default/default`), so
 * `ready` would be a lie for a user's first `kubectl run`.
 */
async function defaultServiceAccount(cp: ControlPlane, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await kubeRequest(cp.kc, { path: "/api/v1/namespaces/default/serviceaccounts/default" });
      return;
    } catch (e) {
      if (!isNotFound(e) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Where the control plane's own files go in a playground state folder. */
export const controlPlaneDir = (stateDir: string): string => join(stateDir, "control-plane");
