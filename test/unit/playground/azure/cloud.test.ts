import assert from "node:assert/strict";
import { defaultCloud, nodesOf, validateCloud } from "../../../../src/playground/azure/cloud.ts";
import { startAzure } from "../../../../src/playground/azure/index.ts";
import type { CertificateAuthority } from "../../../../src/shared/pki.ts";

describe("playground cloud", () => {
  it("the default cloud is valid", () => {
    assert.deepEqual(validateCloud(defaultCloud()), []);
  });

  it("derives AKS-style nodes: scale-set VMs for uniform, VMs for flexible and standalone", () => {
    const cloud = defaultCloud();
    const nodes = nodesOf(cloud);
    const sub = cloud.subscriptionId;
    assert.deepEqual(nodes, [
      {
        name: "aks-nodepool1-12345678-vmss000000",
        providerID: `azure:///subscriptions/${sub}/resourceGroups/mc_podid_playground_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0`,
      },
      {
        name: "aks-nodepool1-12345678-vmss000001",
        providerID: `azure:///subscriptions/${sub}/resourceGroups/mc_podid_playground_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/1`,
      },
      {
        name: "aks-flexpool-87654321-vmss000000",
        providerID: `azure:///subscriptions/${sub}/resourceGroups/mc_podid_playground_westeurope/providers/Microsoft.Compute/virtualMachines/aks-flexpool-87654321-vmss_0`,
      },
      {
        name: "aks-standalone-0",
        providerID: `azure:///subscriptions/${sub}/resourceGroups/mc_podid_playground_westeurope/providers/Microsoft.Compute/virtualMachines/aks-standalone-0`,
      },
    ]);
  });

  it("names the field and what was expected for bad input", () => {
    const cloud = defaultCloud();
    cloud.tenantId = "tenant";
    cloud.vms[0]!.resourceGroup = "nowhere";
    cloud.vms[0]!.identities = ["ghost"];
    cloud.scaleSets[0]!.instances[1]!.computerName = cloud.scaleSets[0]!.instances[0]!.computerName;
    cloud.identities[1]!.clientId = "nope";
    const errors = validateCloud(cloud);
    for (const want of [
      /^tenantId: expected a GUID/,
      /^vms\[0\]\.resourceGroup: "nowhere"/,
      /^vms\[0\]\.identities: "ghost"/,
      /instances\[1\]\.computerName: .* used twice/,
      /^identities\[1\]\.clientId/,
    ]) {
      assert.ok(
        errors.some((e) => want.test(e)),
        `${want} in ${errors.join("; ")}`,
      );
    }
  });

  it("names the field when the shape is wrong (e.g. a cloud read from a file)", () => {
    const cloud = defaultCloud() as unknown as Record<string, unknown>;
    (cloud.scaleSets as Array<Record<string, unknown>>)[0]!.instances = "two";
    (cloud.vms as Array<Record<string, unknown>>)[0]!.name = 7;
    assert.deepEqual(
      validateCloud(cloud).map((e) => e.split(":")[0]),
      ["scaleSets[0].instances", "vms[0].name"],
    );
    assert.deepEqual(validateCloud(undefined).length, 1);
  });

  it("startAzure refuses an invalid cloud before starting anything", async () => {
    const cloud = defaultCloud();
    cloud.subscriptionId = "sub";
    await assert.rejects(startAzure({ cloud, ca: {} as CertificateAuthority }), /subscriptionId: expected a GUID/);
    await assert.rejects(
      startAzure({ cloud: defaultCloud(), ca: {} as CertificateAuthority, lroDurationMs: -1 }),
      /lroDurationMs/,
    );
  });
});
