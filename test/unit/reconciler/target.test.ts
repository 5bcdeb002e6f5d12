import assert from "node:assert/strict";
import { identityKey, parseProviderId, targetFor, targetFromId } from "../../../src/reconciler/target.ts";

const SUB = "00000000-0000-0000-0000-000000000001";

describe("reconciler/target: providerID → VM or scale set", () => {
  const cases: Array<{
    name: string;
    providerID: string | undefined;
    mode?: "Uniform" | "Flexible";
    kind?: "vm" | "vmss";
    target?: string;
    error?: RegExp;
  }> = [
    {
      name: "uniform scale-set instance → the scale set",
      providerID: `azure:///subscriptions/${SUB}/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool1-123/virtualMachines/4`,
      mode: "Uniform",
      kind: "vmss",
      target: `/subscriptions/${SUB}/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool1-123`,
    },
    {
      name: "mode not known yet → treated as uniform",
      providerID: `azure:///subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0`,
      kind: "vmss",
      target: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss`,
    },
    {
      name: "flexible scale-set instance → its own VM",
      providerID: `azure:///subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/flex/virtualMachines/flex_a1b2`,
      mode: "Flexible",
      kind: "vm",
      target: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/flex_a1b2`,
    },
    {
      name: "standalone VM → the VM",
      providerID: `azure:///subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-0`,
      kind: "vm",
      target: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-0`,
    },
    {
      name: "case of the provider segment does not matter",
      providerID: `azure:///subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/node-0`,
      kind: "vm",
      target: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-0`,
    },
    { name: "missing providerID", providerID: undefined, error: /no spec\.providerID/ },
    { name: "kind node", providerID: "kind://docker/kind/kind-control-plane", error: /not an Azure VM/ },
    { name: "AWS node", providerID: "aws:///us-east-1a/i-0123", error: /not an Azure VM/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseProviderId(c.providerID);
      if (c.error !== undefined) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.match(r.error, c.error);
        return;
      }
      assert.ok(r.ok);
      const t = targetFor(r.value, c.mode);
      assert.equal(t.kind, c.kind);
      assert.equal(t.id, c.target);
      assert.equal(t.key, c.target!.toLowerCase());
    });
  }

  it("rebuilds a target from its ARM ID and refuses other IDs", () => {
    const t = targetFromId(
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss`,
    );
    assert.equal(t?.kind, "vmss");
    assert.equal(t?.name, "ss");
    assert.equal(targetFromId("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/foo/bar"), undefined);
  });

  it("identity keys ignore case and a trailing slash", () => {
    assert.equal(
      identityKey("/subscriptions/S/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ID/"),
      identityKey("/subscriptions/s/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/id"),
    );
  });
});
