import assert from "node:assert/strict";
import { parseArmPath } from "../../../../src/playground/azure/arm-routes.ts";

describe("parseArmPath", () => {
  const p = "/subscriptions/s/resourceGroups/rg/providers";
  const cases: Array<[string, unknown]> = [
    [`${p}/Microsoft.Compute/virtualMachineScaleSets/vmss`, { kind: "scaleSets", sub: "s", rg: "rg", name: "vmss" }],
    [`${p}/Microsoft.Compute/virtualMachineScaleSets`, { kind: "scaleSets", sub: "s", rg: "rg" }],
    [
      `${p}/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/3`,
      { kind: "scaleSetVms", sub: "s", rg: "rg", scaleSet: "vmss", instanceId: "3" },
    ],
    [
      `${p}/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines`,
      { kind: "scaleSetVms", sub: "s", rg: "rg", scaleSet: "vmss" },
    ],
    [`${p}/Microsoft.Compute/virtualMachines/vm1`, { kind: "vms", sub: "s", rg: "rg", name: "vm1" }],
    [
      `${p}/Microsoft.ManagedIdentity/userAssignedIdentities/id1`,
      { kind: "identities", sub: "s", rg: "rg", name: "id1" },
    ],
    [
      "/subscriptions/s/resourcegroups/RG/providers/microsoft.compute/VIRTUALMACHINES/vm1",
      { kind: "vms", sub: "s", rg: "RG", name: "vm1" },
    ],
    [
      "/subscriptions/s/providers/Microsoft.Compute/locations/westeurope/operations/op1",
      { kind: "operation", sub: "s", location: "westeurope", operationId: "op1" },
    ],
    [
      `${p}/Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/podid-nmi`,
      { kind: "federatedCredentials", sub: "s", rg: "rg", identity: "id1", name: "podid-nmi" },
    ],
    [
      `${p}/microsoft.managedidentity/userassignedidentities/id1/FEDERATEDIDENTITYCREDENTIALS`,
      { kind: "federatedCredentials", sub: "s", rg: "rg", identity: "id1" },
    ],
    [`${p}/Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/a/b`, undefined],
    [`${p}/Microsoft.ManagedIdentity/userAssignedIdentities/id1/other/a`, undefined],
    [`${p}/Microsoft.Network/loadBalancers/lb`, undefined],
    [`${p}/Microsoft.Compute/virtualMachines/vm1/extensions/x`, undefined],
    ["/subscriptions/s", undefined],
    ["/tenants", undefined],
  ];
  for (const [path, want] of cases) {
    it(path, () => assert.deepEqual(parseArmPath(path), want));
  }
});
