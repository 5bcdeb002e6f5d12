// The reconciler's own IMDS exception, on a real API server: started with a cloud config that
// names the node's managed identity, `podid reconciler` (as config/'s podid-reconciler
// ServiceAccount) creates the AzurePodIdentityException that lets the NMI pass its IMDS calls on,
// and leaves an existing one alone; with a credential of its own it creates nothing; an account
// without config/'s `create` on exceptions gets none, and the reconciler keeps running.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isNotFound, kubeRequest } from "../../../src/kube/request.ts";
import { API_VERSION, RECONCILER, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { parseAzurePodIdentityException } from "../../../src/model/parse.ts";
import { matchesAllLabels } from "../../../src/policy/index.ts";
import { usesManagedIdentity } from "../../../src/reconciler/credential.ts";
import { ensureImdsException } from "../../../src/reconciler/imds-exception.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { ACCOUNTS, NODES, sharedPodid, slowly, type PodidCluster } from "../../helpers/podid-real.ts";

const path = `/apis/${API_VERSION}/namespaces/${SYSTEM_NAMESPACE}/azurepodidentityexceptions/${RECONCILER.imdsExceptionName}`;

describe("real cluster: the reconciler's IMDS exception", function () {
  this.timeout(90_000);
  let p: PodidCluster;
  let azure: AzureFixture;
  const remove = () =>
    kubeRequest(p.cp.kc, { method: "DELETE", path }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  const current = async (): Promise<unknown> => {
    try {
      return await kubeRequest<unknown>(p.cp.kc, { path });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };

  before(async () => {
    ({ p } = await sharedPodid());
    azure = await startTestAzure();
  });
  after(async () => {
    await remove();
    await azure?.pg.stop();
  });

  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    ["useManagedIdentityExtension", { useManagedIdentityExtension: true }, true],
    ["aadClientId msi", { aadClientId: "msi" }, true],
    ["a service principal", { tenantId: "t", aadClientId: "a", aadClientSecret: "s" }, false],
  ];
  for (const [what, cc, msi] of cases)
    it(`a cloud config with ${what} ${msi ? "asks" : "does not ask"} the node's IMDS`, () =>
      assert.equal(usesManagedIdentity(cc), msi));

  it("podid reconciler with the kubelet identity creates it, for the reconciler's pods", async () => {
    await remove();
    const kubelet = azure.cloud.identities.find((i) => i.name === "podid-playground-agentpool")!;
    const cloudConfig = join(p.dir, "azure.json");
    writeFileSync(
      cloudConfig,
      JSON.stringify({ useManagedIdentityExtension: true, userAssignedIdentityID: kubelet.clientId }),
    );
    const prog = await p.startReconciler(azure, {
      name: "reconciler-msi",
      args: ["--cloud-config", cloudConfig],
      // The SDK's managed identity asks this node's IMDS (the stand-in), never 169.254.169.254.
      env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: azure.pg.imdsUrl(NODES[0]!.name) },
    });
    try {
      const created = await slowly(current, "the exception");
      const parsed = parseAzurePodIdentityException(created);
      assert.ok(parsed.ok);
      assert.ok(matchesAllLabels({ ...RECONCILER.podLabels, "pod-template-hash": "x" }, parsed.value.podLabels));
      assert.match(readFileSync(prog.logFile, "utf8"), /created the AzurePodIdentityException/);
    } finally {
      await prog.stop();
    }
  });

  it("leaves an existing one alone, and says so", async () => {
    const before = await current();
    assert.ok(before !== undefined);
    const { kc } = await p.account(ACCOUNTS.reconciler);
    assert.equal(await ensureImdsException(kc, SYSTEM_NAMESPACE, silentLogger()), "exists");
    assert.deepEqual(await current(), before);
  });

  it("with a credential of its own it creates none", async () => {
    await remove();
    const prog = await p.startReconciler(azure, { name: "reconciler-sp" });
    await prog.stop();
    assert.equal(await current(), undefined);
  });

  it("fails softly without config/'s create permission", async () => {
    const { kc } = await p.account(ACCOUNTS.nmi);
    assert.equal(await ensureImdsException(kc, SYSTEM_NAMESPACE, silentLogger()), "failed");
    assert.equal(await current(), undefined);
  });
});
