// Where a program finds its cluster: an explicit kubeconfig file, else the in-cluster service
// account, else the usual default ($KUBECONFIG, ~/.kube/config).
import { existsSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined && path !== "") {
    if (!existsSync(path)) throw new Error(`--kubeconfig: file ${path} does not exist`);
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (kc.getCurrentCluster() === null) {
    throw new Error("no Kubernetes cluster configured: pass --kubeconfig, or run in a cluster");
  }
  return kc;
}
