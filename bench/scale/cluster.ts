// The scale run's cluster: the real kube-apiserver from KUBEBUILDER_ASSETS (../shared/envtest)
// where it is available, the playground's API server otherwise; podid's CRDs, namespaces with
// identities and bindings, and nodes whose providerIDs name the Azure stand-in's scale sets.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { isAlreadyExists, kubeRequest, resourcePath } from "../../src/kube/request.ts";
import { API_VERSION, GROUP, KINDS, SYSTEM_NAMESPACE, VERSION } from "../../src/model/constants.ts";
import { installCrds } from "../../src/playground/control-plane/crds.ts";
import { startControlPlane, MissingAssetsError } from "../../src/playground/control-plane/index.ts";
import { registerNode } from "../../src/playground/control-plane/kubelet.ts";
import { startKubeApi } from "../../src/playground/kube/index.ts";
import { silentLogger } from "../../src/shared/log.ts";

export interface BenchCluster {
  /** "real": kube-apiserver + etcd; "playground": the loopback emulator. */
  kind: "real" | "playground";
  kc: KubeConfig;
  kubeconfigPath: string;
  /** Ends every watch so that its resumption finds its history gone (410 Gone), as after an API server restart. */
  dropWatches(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  try {
    const cp = await startControlPlane({ controllerManager: false });
    return {
      kind: "real",
      kc: cp.kc,
      kubeconfigPath: cp.kubeconfigPath,
      dropWatches: () => cp.restartApiServer(),
      stop: () => cp.stop(),
    };
  } catch (e) {
    if (!(e instanceof MissingAssetsError)) throw e;
    console.error(`scale run: no real API server (${e.message}); using the playground's`);
  }
  const api = await startKubeApi({ logger: silentLogger(), simulateKubelet: false, nodes: [] });
  const kubeconfigPath = join(mkdtempSync(join(tmpdir(), "podid-bench-")), "kubeconfig");
  writeFileSync(kubeconfigPath, api.kubeconfigYaml(), { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    kind: "playground",
    kc,
    kubeconfigPath,
    dropWatches() {
      const store = api.api.store;
      for (const def of api.api.registry.all()) {
        store.compact(def);
        store.closeWatches(def);
      }
      return Promise.resolve();
    },
    stop: () => api.stop(),
  };
}

const post = async (kc: KubeConfig, path: string, body: unknown): Promise<void> => {
  try {
    await kubeRequest(kc, { method: "POST", path, body });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
};

export interface BenchTenants {
  namespaces: string[];
  /** Identity i: its name (= its binding's selector) and client ID. */
  identities: Array<{ name: string; clientID: string; resourceID: string }>;
  nodes: Array<{ name: string; providerID: string; internalIP: string }>;
}

/** CRDs, podid's namespace, team namespaces (each with its ServiceAccount, identities and bindings), nodes. */
export async function populate(kc: KubeConfig, t: BenchTenants): Promise<void> {
  await installCrds(kc);
  for (const ns of [SYSTEM_NAMESPACE, ...t.namespaces]) {
    await post(kc, "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    // No controller-manager here: create what its ServiceAccount controller would.
    await post(kc, `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "default" },
    });
  }
  for (const ns of t.namespaces) {
    for (const id of t.identities) {
      await post(
        kc,
        resourcePath({ group: GROUP, version: VERSION, plural: KINDS.AzureIdentity.plural, namespace: ns }),
        {
          apiVersion: API_VERSION,
          kind: "AzureIdentity",
          metadata: { name: id.name },
          spec: { type: 0, resourceID: id.resourceID, clientID: id.clientID },
        },
      );
      await post(
        kc,
        resourcePath({ group: GROUP, version: VERSION, plural: KINDS.AzureIdentityBinding.plural, namespace: ns }),
        {
          apiVersion: API_VERSION,
          kind: "AzureIdentityBinding",
          metadata: { name: `${id.name}-binding` },
          spec: { azureIdentity: id.name, selector: id.name },
        },
      );
    }
  }
  for (const n of t.nodes) await registerNode(kc, n);
}
