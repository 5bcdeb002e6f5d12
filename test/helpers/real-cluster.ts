// The real control plane for integration tests (etcd + kube-apiserver + kube-controller-manager
// from KUBEBUILDER_ASSETS, see src/playground/control-plane). One is shared by every test file of
// a run: started on first use (about 6 s), stopped after the last test by the root hook in
// test/hooks.ts. Tests keep to namespaces of their own. A test that must change the cluster
// itself (an API server restart, a fresh install) starts a private one with startControlPlane.
// Missing binaries make the test fail with a message saying how to get them: never a skip.
import {
  startControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
} from "../../src/playground/control-plane/index.ts";
import { kubectl, type Run } from "./kubectl.ts";

let shared: Promise<ControlPlane> | undefined;

/** The run's shared real cluster. */
export function sharedRealCluster(): Promise<ControlPlane> {
  shared ??= startControlPlane();
  return shared;
}

/** A real cluster of the caller's own; stop it in an `after` hook. */
export function privateRealCluster(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  return startControlPlane(opts);
}

export async function stopSharedRealCluster(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s !== undefined) await (await s.catch(() => undefined))?.stop();
}

/** kubectl against a real cluster, as its admin (or with another kubeconfig). */
export function kubectlOn(
  cp: ControlPlane,
  args: string[],
  stdin?: string,
  kubeconfig = cp.kubeconfigPath,
): Promise<Run> {
  return kubectl(kubeconfig, args, stdin);
}

let names = 0;
/** A namespace name no other test of this run uses. */
export function uniqueNamespace(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${(names++).toString(36)}`;
}
