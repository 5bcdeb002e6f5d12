// The real-cluster harness itself: a real kube-apiserver and controller-manager come up on
// loopback with their own PKI, a pod can be bound and reported running as a kubelet would, a
// ServiceAccount's kubeconfig is subject to RBAC, and a restarted API server keeps its data.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { kubeRequest, KubeApiError } from "../../../src/kube/request.ts";
import { registerNode, runPod } from "../../../src/playground/control-plane/kubelet.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { eventually } from "../../helpers/eventually.ts";
import { kubectlOn, privateRealCluster, sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";

describe("real-cluster harness", function () {
  this.timeout(90_000);
  let cp: ControlPlane;
  const ns = uniqueNamespace("harness");

  before(async () => {
    cp = await sharedRealCluster();
    const r = await kubectlOn(cp, ["create", "namespace", ns]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("is a real kube-apiserver: its version, RBAC and the protected-group rule", async () => {
    const v = await kubectlOn(cp, ["version", "-o", "json"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(JSON.parse(v.stdout).serverVersion.gitVersion as string, /^v1\.\d+/);
    const rbac = await kubectlOn(cp, ["api-resources", "--api-group=rbac.authorization.k8s.io", "-o", "name"]);
    assert.match(rbac.stdout, /clusterroles/);
  });

  it("runs the controller-manager: a namespace gets its default ServiceAccount", async () => {
    await eventually(async () => {
      const r = await kubectlOn(cp, ["get", "serviceaccount", "default", "-n", ns]);
      return r.code === 0 ? true : undefined;
    }, "the default ServiceAccount");
  });

  it("binds a pod and reports it running, as a scheduler and kubelet would", async () => {
    const node = `node-${ns}`;
    await registerNode(cp.kc, { name: node, internalIP: "127.20.9.1", providerID: "azure:///subscriptions/x/y" });
    const pod = JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p1", namespace: ns },
      spec: { containers: [{ name: "c", image: "x" }] },
    });
    await eventually(
      async () => ((await kubectlOn(cp, ["create", "-f", "-"], pod)).code === 0 ? true : undefined),
      "pod creation",
    );
    await runPod(cp.kc, ns, "p1", node, { podIP: "127.10.9.1", hostIP: "127.20.9.1" });
    const got = await kubeRequest<{ spec: { nodeName: string }; status: { phase: string; podIP: string } }>(cp.kc, {
      path: `/api/v1/namespaces/${ns}/pods/p1`,
    });
    assert.equal(got.spec.nodeName, node);
    assert.equal(got.status.phase, "Running");
    assert.equal(got.status.podIP, "127.10.9.1");
  });

  it("gives a ServiceAccount's kubeconfig what RBAC grants and nothing more", async () => {
    const sa = await cp.serviceAccountKubeconfig(ns, "default");
    await assert.rejects(
      kubeRequest(sa.kc, { path: `/api/v1/namespaces/${ns}/secrets` }),
      (e: unknown) => e instanceof KubeApiError && e.statusCode === 403,
    );
  });
});

describe("real-cluster harness: a private cluster", function () {
  this.timeout(120_000);

  it("keeps its objects across an API server restart, then removes everything on stop", async () => {
    const cp = await privateRealCluster({ controllerManager: false });
    try {
      const r = await kubectlOn(cp, ["create", "namespace", "survives"]);
      assert.equal(r.code, 0, r.stderr);
      await cp.stopApiServer();
      const down = await kubectlOn(cp, ["get", "namespace", "survives"]);
      assert.notEqual(down.code, 0, "the API server should be down");
      await cp.startApiServer();
      const back = await kubectlOn(cp, ["get", "namespace", "survives", "-o", "name"]);
      assert.equal(back.stdout.trim(), "namespace/survives", back.stderr);
    } finally {
      await cp.stop();
    }
    assert.equal(existsSync(cp.dir), false, "the state folder is removed");
  });
});
