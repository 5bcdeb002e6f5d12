// AzureAssignedIdentity writes against the playground API server, with podid's CRD (status
// subresource) and with AAD Pod Identity's (status part of the object): the writer must set
// the status either way.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { GROUP } from "../../../src/model/constants.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { kubeAssignedIdentityWriter } from "../../../src/reconciler/assigned-writer.ts";
import { parseAzureAssignedIdentity } from "../../../src/model/parse.ts";
import type { AzureAssignedIdentity } from "../../../src/model/types.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import { until } from "./world.ts";

const podidCrd = (): Record<string, unknown> =>
  parse(readFileSync(new URL("../../../config/crd/azureassignedidentity.yaml", import.meta.url), "utf8")) as Record<
    string,
    unknown
  >;

/** AAD Pod Identity's CRD had no status subresource. */
function withoutStatusSubresource(crd: Record<string, unknown>): Record<string, unknown> {
  const c = structuredClone(crd) as { spec: { versions: Array<Record<string, unknown>> } };
  for (const v of c.spec.versions) delete v.subresources;
  return c;
}

const obj = (uid = "pod-uid-1") => ({
  apiVersion: `${GROUP}/v1`,
  kind: "AzureAssignedIdentity",
  metadata: { name: "web-reader", namespace: "default" },
  spec: {
    pod: "web",
    podNamespace: "default",
    podUID: uid,
    nodeName: "n0",
    azureIdentityRef: {
      name: "reader",
      namespace: "default",
      type: 0,
      clientID: "00000000-0000-4000-8000-000000000001",
      resourceID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader",
    },
    azureBindingRef: { name: "reader-binding", namespace: "default", selector: "reader" },
  },
  status: { status: "Created" },
});

for (const variant of [
  { name: "podid's CRD (status subresource)", crd: podidCrd },
  { name: "AAD Pod Identity's CRD (no status subresource)", crd: () => withoutStatusSubresource(podidCrd()) },
]) {
  describe(`reconciler/assigned-writer with ${variant.name}`, () => {
    let c: TestCluster;
    const path = `/apis/${GROUP}/v1/namespaces/default/azureassignedidentities/web-reader`;
    const read = async (): Promise<AzureAssignedIdentity> => {
      const r = parseAzureAssignedIdentity(await kubeRequest(c.kc, { path }));
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
      return r.value;
    };
    before(async () => {
      c = await startTestCluster({ simulateKubelet: false });
      await kubeRequest(c.kc, {
        method: "POST",
        path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        body: variant.crd(),
      });
      await until("CRD served", () =>
        kubeRequest(c.kc, { path: `/apis/${GROUP}/v1/azureassignedidentities` }).then(
          () => true,
          () => false,
        ),
      );
    });
    after(async () => {
      await c?.stop();
    });

    it("creates with a status, updates the status, replaces and deletes", async () => {
      const w = kubeAssignedIdentityWriter(c.kc);
      await w.create(obj());
      assert.equal((await read()).status?.status, "Created");
      await w.create(obj()); // already there: no error
      await w.patchStatus("default", "web-reader", {
        status: "Assigned",
        target: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
      });
      const assigned = await read();
      assert.equal(assigned.status?.status, "Assigned");
      assert.match(assigned.status?.target ?? "", /virtualMachines\/vm$/);
      await w.replace(
        { ...obj("pod-uid-2"), status: { status: "Failed", reason: "InvalidIdentity", message: "m" } },
        assigned,
      );
      const replaced = await read();
      assert.equal(replaced.spec.podUID, "pod-uid-2");
      assert.equal(replaced.status?.reason, "InvalidIdentity");
      // Federated and back: tokenSource is written, and removed with the reason once no longer true.
      await w.patchStatus("default", "web-reader", {
        status: "Assigned",
        tokenSource: "Federated",
        target:
          "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i/federatedIdentityCredentials/podid-nmi",
      });
      const federated = await read();
      assert.equal(federated.status?.tokenSource, "Federated");
      assert.equal(federated.status?.reason, undefined, "the reason of the Failed status before is gone");
      await w.patchStatus("default", "web-reader", { status: "Assigned", target: "/subscriptions/s/vm" });
      const back = await read();
      assert.equal(back.status?.tokenSource, undefined);
      assert.equal(back.status?.target, "/subscriptions/s/vm");
      await w.delete(replaced);
      await w.delete(replaced); // already gone: no error
      await w.patchStatus("default", "web-reader", { status: "Assigned" }); // gone: no error
      await assert.rejects(kubeRequest(c.kc, { path }), /not found/);
    });
  });
}
