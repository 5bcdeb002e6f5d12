// Federation's trust, on a real API server's RBAC and admission: a token of podid-system's
// podid-nmi service account is worth every federated identity's Azure tokens, so a tenant (admin
// of its own namespace) tries to get one and fails: it may not request one, may not run a pod as
// that account, and an account of the same name in its own namespace has another subject, which
// the identity's federated credential does not name (Entra's stand-in refuses it: AADSTS700213).
import assert from "node:assert/strict";
import { kubeRequest } from "../../../src/kube/request.ts";
import { FEDERATION, SERVICE_ACCOUNTS, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { kubectlOn, uniqueNamespace } from "../../helpers/real-cluster.ts";
import { sharedPodid, type PodidCluster } from "../../helpers/podid-real.ts";

const TENANT_ADMIN = "tenant-admin";

function podAs(ns: string, name: string, serviceAccount: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: "c", image: "busybox" }] },
  });
}

const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;

describe("real cluster: a tenant cannot act as podid's NMI service account (federation's trust)", function () {
  this.timeout(120_000);
  let p: PodidCluster;
  let ns: string;
  let tenant: string;

  before(async () => {
    p = (await sharedPodid()).p;
    ns = uniqueNamespace("guard");
    const made = await kubectlOn(p.cp, ["create", "namespace", ns]);
    assert.equal(made.code, 0, made.stderr);
    await kubeRequest(p.cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: TENANT_ADMIN } },
    });
    // The built-in `admin` role in its own namespace: what a team is given on a shared cluster.
    await kubeRequest(p.cp.kc, {
      method: "POST",
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: TENANT_ADMIN },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
        subjects: [{ kind: "ServiceAccount", name: TENANT_ADMIN, namespace: ns }],
      },
    });
    tenant = (await p.cp.serviceAccountKubeconfig(ns, TENANT_ADMIN)).path;
  });

  it("attack: requesting a podid-nmi token is forbidden", async () => {
    const r = await kubectlOn(
      p.cp,
      ["-n", SYSTEM_NAMESPACE, "create", "token", SERVICE_ACCOUNTS.nmi],
      undefined,
      tenant,
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /forbidden/i);
    assert.doesNotMatch(r.stdout, /eyJ/, "no token printed");
  });

  it("attack: a pod in its own namespace cannot run as podid-system's podid-nmi", async () => {
    const r = await kubectlOn(p.cp, ["create", "-f", "-"], podAs(ns, "steal", SERVICE_ACCOUNTS.nmi), tenant);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /serviceaccount "podid-nmi" not found/);
  });

  it("attack: its own podid-nmi account's token names another subject than the credential's", async () => {
    const made = await kubectlOn(p.cp, ["-n", ns, "create", "serviceaccount", SERVICE_ACCOUNTS.nmi], undefined, tenant);
    assert.equal(made.code, 0, made.stderr);
    // Issued as an admin would (the built-in admin role cannot request tokens in 1.24): whoever
    // gets it, the subject is the tenant's account, never podid's.
    const r = await kubectlOn(p.cp, [
      "-n",
      ns,
      "create",
      "token",
      SERVICE_ACCOUNTS.nmi,
      `--audience=${FEDERATION.audience}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const c = claims(r.stdout.trim());
    assert.equal(c.sub, `system:serviceaccount:${ns}:${SERVICE_ACCOUNTS.nmi}`);
    assert.notEqual(c.sub, FEDERATION.subject(SYSTEM_NAMESPACE));
    assert.deepEqual(c.aud, [FEDERATION.audience]);
  });
});
