// The reconciler's issuer discovery against a real kube-apiserver (KUBEBUILDER_ASSETS): an
// ordinary service account, with no role of its own, reads /.well-known/openid-configuration
// under Kubernetes' default system:service-account-issuer-discovery binding, and gets the
// issuer the API server signs service-account tokens with.
import assert from "node:assert/strict";
import { kubeRequest } from "../../../src/kube/request.ts";
import { discoverIssuer } from "../../../src/reconciler/issuer.ts";
import { sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";

describe("real cluster: the reconciler discovers the service-account issuer with its own credentials", function () {
  this.timeout(120_000);

  it("a service account without any role binding reads the issuer", async () => {
    const cp = await sharedRealCluster();
    const ns = uniqueNamespace("issuer");
    await kubeRequest(cp.kc, { method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } });
    await kubeRequest(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: "podid-reconciler" } },
    });
    const sa = await cp.serviceAccountKubeconfig(ns, "podid-reconciler");
    assert.equal(await discoverIssuer(sa.kc), cp.issuer);
    await kubeRequest(cp.kc, { method: "DELETE", path: `/api/v1/namespaces/${ns}` });
  });
});
