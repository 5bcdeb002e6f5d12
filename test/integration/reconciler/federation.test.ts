// The reconciler with federation end to end: the playground API server (its OIDC discovery
// names the issuer), the Resource Manager stand-in through the real @azure/arm-msi and
// @azure/arm-compute, and the CallLog to count what reached Resource Manager.
import assert from "node:assert/strict";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { FEDERATION, GROUP, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { discoverIssuer } from "../../../src/reconciler/issuer.ts";
import type { RunningReconciler } from "../../../src/reconciler/run.ts";
import { reconcilerCredential } from "../../helpers/azure.ts";
import { NS, startWorld, until, type World } from "./world.ts";

interface Assigned {
  metadata: { name: string; namespace: string };
  status?: { status?: string; reason?: string; message?: string; target?: string; tokenSource?: string };
}

const SUBJECT = FEDERATION.subject(SYSTEM_NAMESPACE);

describe("reconciler with federation against the playground cluster and Resource Manager", function () {
  this.timeout(60_000);
  let w: World;
  let issuer: string;
  beforeEach(async () => {
    w = await startWorld();
    issuer = await discoverIssuer(w.c.kc);
  });
  afterEach(async () => {
    await w?.stop();
  });

  const all = async (): Promise<Assigned[]> =>
    (await kubeRequest<{ items: Assigned[] }>(w.c.kc, { path: `/apis/${GROUP}/v1/azureassignedidentities` })).items;
  const one = async (name: string, ns = NS): Promise<Assigned["status"]> =>
    (await all()).find((a) => a.metadata.name === name && a.metadata.namespace === ns)?.status;
  const start = (manage = true, extra = {}): Promise<RunningReconciler> =>
    w.start({ federation: { issuer, manage }, credentialRecheckMs: 300, ...extra });
  const credentialWrites = (method?: string): number =>
    w.f.pg.calls
      .list({ service: "arm", resource: "federatedIdentityCredentials" })
      .filter((c) => (method === undefined ? c.method === "PUT" || c.method === "DELETE" : c.method === method)).length;
  const computeWrites = (): number =>
    w.f.pg.calls.armWrites({ resource: "virtualMachineScaleSets" }) +
    w.f.pg.calls.armWrites({ resource: "virtualMachines" });
  const msi = () =>
    new ManagedServiceIdentityClient(reconcilerCredential(w.f), w.f.cloud.subscriptionId, {
      endpoint: w.f.pg.armUrl,
      $host: w.f.pg.armUrl,
      credentialScopes: ["https://management.azure.com/.default"],
      tlsOptions: { ca: w.f.pg.caPem },
    });

  it("the issuer comes from the API server's discovery document", () => {
    assert.match(issuer, /^https:\/\//);
  });

  it("a Federated identity's pods are Assigned/Federated with zero compute writes; the credential trusts the NMI", async () => {
    await w.bindIdentity(NS, "demo-reader", "Federated");
    const r = await start();
    await w.addPod("p1", "demo-reader", "uniform0");
    await w.addPod("p2", "demo-reader", "vm");
    await w.addPod("p3", "demo-reader", "flex");
    await until("Assigned", async () => (await all()).filter((a) => a.status?.status === "Assigned").length === 3);
    const s = (await one("p1-demo-reader"))!;
    assert.equal(s.tokenSource, "Federated");
    assert.match(s.target ?? "", /userAssignedIdentities\/demo-reader\/federatedIdentityCredentials\/podid-nmi$/);
    assert.equal(computeWrites(), 0, "no scale-set or VM write");
    assert.deepEqual(w.onTarget("uniform0"), ["podid-playground-agentpool"]);
    assert.equal(credentialWrites("PUT"), 1);
    const c = await msi().federatedIdentityCredentials.get("podid-identities", "demo-reader", "podid-nmi");
    assert.equal(c.issuer, issuer);
    assert.equal(c.subject, SUBJECT);
    assert.deepEqual(c.audiences, ["api://AzureADTokenExchange"]);
    const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
    assert.match(text, /podid_arm_requests_total\{operation="put_federated_credential",result="success"\} 1/);
  });

  it("bound in 25 namespaces: the credential is written once; deleted when the last binding goes", async () => {
    const nss = Array.from({ length: 25 }, (_, i) => `fed-${i}`);
    for (const ns of nss) await w.addNamespace(ns);
    for (const ns of nss) await w.bindIdentity(ns, "demo-writer", "Federated");
    await start();
    await until("credential written", () => credentialWrites("PUT") === 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(credentialWrites(), 1, "one write, whatever the number of namespaces");
    for (const ns of nss.slice(0, 24))
      await kubeRequest(w.c.kc, {
        method: "DELETE",
        path: `/apis/${GROUP}/v1/namespaces/${ns}/azureidentitybindings/demo-writer-binding`,
      });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(credentialWrites("DELETE"), 0, "one binding is left");
    await kubeRequest(w.c.kc, {
      method: "DELETE",
      path: `/apis/${GROUP}/v1/namespaces/${nss[24]}/azureidentitybindings/demo-writer-binding`,
    });
    await until("credential deleted", () => credentialWrites("DELETE") === 1);
    const left = [];
    for await (const c of msi().federatedIdentityCredentials.list("podid-identities", "demo-writer")) left.push(c);
    assert.deepEqual(left, []);
    assert.equal(computeWrites(), 0);
  });

  it("switching NodeAssigned → Federated → NodeAssigned keeps the pod Assigned at every observed moment", async () => {
    await w.bindIdentity(NS, "demo-reader", "NodeAssigned");
    await start();
    await w.addPod("p", "demo-reader", "uniform0");
    await until("Assigned on the node", async () => (await one("p-demo-reader"))?.status === "Assigned");
    assert.ok(w.onTarget("uniform0").includes("demo-reader"));

    const watchWhile = async (done: () => boolean): Promise<string[]> => {
      const seen: string[] = [];
      await until(
        "switched",
        async () => {
          const s = await one("p-demo-reader");
          seen.push(`${s?.status}/${s?.tokenSource ?? "NodeAssigned"}`);
          assert.equal(s?.status, "Assigned", `observed ${JSON.stringify(s)}`);
          return done();
        },
        20_000,
      );
      return [...new Set(seen)];
    };

    await w.setTokenSource(NS, "demo-reader", "Federated");
    const toFederated = await watchWhile(() => !w.onTarget("uniform0").includes("demo-reader"));
    assert.equal((await one("p-demo-reader"))?.tokenSource, "Federated");
    assert.ok(toFederated.includes("Assigned/Federated"));
    assert.equal(credentialWrites("PUT"), 1);

    const writesBefore = computeWrites();
    await w.setTokenSource(NS, "demo-reader", "NodeAssigned");
    const back = await watchWhile(() => credentialWrites("DELETE") === 1);
    assert.ok(w.onTarget("uniform0").includes("demo-reader"), "on the scale set again before the credential went");
    assert.equal((await one("p-demo-reader"))?.tokenSource, undefined);
    assert.ok(back.includes("Assigned/NodeAssigned"));
    assert.equal(computeWrites(), writesBefore + 1, "one scale-set write to move back");
    await until("source-change events", async () => {
      const mine = (await w.events()).filter(
        (e) => e.reason === "IdentityTokenSourceChanged" && e.involvedObject.name === "p",
      );
      return mine.some((e) => /federation/.test(e.message)) && mine.some((e) => /its node/.test(e.message));
    });
  });

  it("without the role to write credentials: Failed FederatedCredentialRejected naming the role, no compute write", async () => {
    await w.bindIdentity(NS, "demo-writer", "Federated");
    w.f.pg.faults.unwritableCredentials.add(w.idOf("demo-writer").toLowerCase());
    await start();
    await w.addPod("p", "demo-writer", "uniform1");
    await until("Failed", async () => (await one("p-demo-writer"))?.status === "Failed");
    const s = (await one("p-demo-writer"))!;
    assert.equal(s.reason, "FederatedCredentialRejected");
    assert.match(
      s.message ?? "",
      /AuthorizationFailed.*federatedIdentityCredentials\/write.*Managed Identity Contributor/,
    );
    assert.equal(computeWrites(), 0);
    // Granted: the next look (credentialRecheckMs) creates it.
    w.f.pg.faults.unwritableCredentials.clear();
    await until("Assigned", async () => (await one("p-demo-writer"))?.status === "Assigned");
  });

  it("manage=false: FederatedCredentialMissing naming issuer and subject, then Assigned once an admin creates it", async () => {
    await w.bindIdentity(NS, "demo-reader", "Federated");
    await start(false);
    await w.addPod("p", "demo-reader", "vm");
    await until("Failed", async () => (await one("p-demo-reader"))?.reason === "FederatedCredentialMissing");
    const s = (await one("p-demo-reader"))!;
    assert.equal(s.status, "Failed");
    assert.ok(s.message?.includes(`issuer ${issuer}`), s.message);
    assert.ok(s.message?.includes(`subject ${SUBJECT}`), s.message);
    // The admin creates it, with the real client.
    await msi().federatedIdentityCredentials.createOrUpdate("podid-identities", "demo-reader", "podid-nmi", {
      issuer,
      subject: SUBJECT,
      audiences: ["api://AzureADTokenExchange"],
    });
    await until("Assigned", async () => (await one("p-demo-reader"))?.status === "Assigned");
    assert.equal((await one("p-demo-reader"))?.tokenSource, "Federated");
    assert.equal(credentialWrites(), 1, "only the admin's write");
    assert.equal(computeWrites(), 0);
  });
});
