// A playground API server for integration tests: started on 127.0.0.1 port 0, with a
// client-node KubeConfig loaded from its kubeconfig and the same kubeconfig in a temp file for
// kubectl. Call stop() in an `after` hook.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { silentLogger } from "../../src/shared/log.ts";
import { startKubeApi, type KubeApiOptions, type KubeApiServer } from "../../src/playground/kube/index.ts";

export interface TestCluster {
  api: KubeApiServer;
  kc: KubeConfig;
  /** A kubeconfig file for kubectl (`--kubeconfig` or KUBECONFIG). */
  kubeconfigPath: string;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: KubeApiOptions = {}): Promise<TestCluster> {
  const api = await startKubeApi({ logger: silentLogger(), ...opts });
  const dir = mkdtempSync(join(tmpdir(), "podid-cluster-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  const yaml = api.kubeconfigYaml();
  writeFileSync(kubeconfigPath, yaml, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return {
    api,
    kc,
    kubeconfigPath,
    async stop() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
