import assert from "node:assert/strict";
import {
  IDENTITY_NOT_FOUND,
  MULTIPLE_IDENTITIES,
  resolveImdsIdentity,
  type NodeIdentities,
} from "../../../../src/playground/azure/imds-identity.ts";

const a = {
  id: "/subscriptions/s/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a",
  clientId: "ca",
  principalId: "pa",
};
const b = {
  id: "/subscriptions/s/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b",
  clientId: "cb",
  principalId: "pb",
};
const system = {
  clientId: "cs",
  principalId: "ps",
  resourceId: "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm",
};

describe("resolveImdsIdentity", () => {
  const cases: Array<{
    name: string;
    ids: NodeIdentities;
    sel: Parameters<typeof resolveImdsIdentity>[1];
    want: string;
  }> = [
    { name: "client_id of an assigned identity", ids: { user: [a, b] }, sel: { clientId: "CB" }, want: "cb" },
    { name: "object_id of an assigned identity", ids: { user: [a, b] }, sel: { objectId: "pa" }, want: "ca" },
    {
      name: "msi_res_id, case-insensitively",
      ids: { user: [a, b] },
      sel: { resourceId: b.id.toLowerCase() },
      want: "cb",
    },
    { name: "no selector: the system-assigned identity first", ids: { system, user: [a] }, sel: {}, want: "cs" },
    { name: "no selector: the only user-assigned identity", ids: { user: [a] }, sel: {}, want: "ca" },
    {
      name: "no selector, several user-assigned",
      ids: { user: [a, b] },
      sel: {},
      want: `error:${MULTIPLE_IDENTITIES}`,
    },
    { name: "no identities at all", ids: { user: [] }, sel: {}, want: `error:${IDENTITY_NOT_FOUND}` },
    {
      name: "client_id not assigned",
      ids: { user: [a] },
      sel: { clientId: "cb" },
      want: `error:${IDENTITY_NOT_FOUND}`,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = resolveImdsIdentity(c.ids, c.sel);
      assert.equal(r.ok ? r.subject.clientId : `error:${r.description}`, c.want);
    });
  }

  it("names the identity's resource in xms_mirid form", () => {
    const r = resolveImdsIdentity({ user: [a] }, { clientId: "ca" });
    assert.ok(r.ok);
    assert.equal(
      r.subject.resourceId,
      "/subscriptions/s/resourcegroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a",
    );
  });
});
