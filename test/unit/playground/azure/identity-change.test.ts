import assert from "node:assert/strict";
import {
  decideIdentityChange,
  identityTypeOf,
  type AssignedIdentities,
  type IdentityChangeInput,
} from "../../../../src/playground/azure/identity-change.ts";

const A = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a";
const B = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b";
const C = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/c";
const known = new Map([A, B, C].map((id) => [id.toLowerCase(), id]));

function input(
  current: AssignedIdentities,
  request: unknown,
  over: Partial<IdentityChangeInput> = {},
): IdentityChangeInput {
  return {
    current,
    request,
    mode: "patch",
    resourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss",
    lookupIdentity: (id) => known.get(id.toLowerCase()),
    checkExistence: true,
    limit: 150,
    ...over,
  };
}

describe("decideIdentityChange", () => {
  const ok: Array<{ name: string; in: IdentityChangeInput; next: AssignedIdentities }> = [
    {
      name: "no identity in the request keeps the current ones",
      in: input({ system: false, userAssigned: [A] }, undefined),
      next: { system: false, userAssigned: [A] },
    },
    {
      name: "PATCH adds to the existing ones",
      in: input({ system: false, userAssigned: [A] }, { type: "UserAssigned", userAssignedIdentities: { [B]: {} } }),
      next: { system: false, userAssigned: [A, B] },
    },
    {
      name: "PATCH null removes one, others stay",
      in: input(
        { system: false, userAssigned: [A, B] },
        { type: "UserAssigned", userAssignedIdentities: { [A]: null } },
      ),
      next: { system: false, userAssigned: [B] },
    },
    {
      name: "keys match case-insensitively and keep the canonical casing",
      in: input(
        { system: false, userAssigned: [A] },
        { userAssignedIdentities: { [A.toLowerCase()]: null, [B.toUpperCase()]: {} } },
      ),
      next: { system: false, userAssigned: [B] },
    },
    {
      name: "PUT replaces",
      in: input(
        { system: false, userAssigned: [A] },
        { type: "UserAssigned", userAssignedIdentities: { [B]: {} } },
        { mode: "put" },
      ),
      next: { system: false, userAssigned: [B] },
    },
    {
      name: "None removes everything",
      in: input({ system: true, userAssigned: [A, B] }, { type: "None" }),
      next: { system: false, userAssigned: [] },
    },
    {
      name: "SystemAssigned drops user-assigned ones",
      in: input({ system: false, userAssigned: [A] }, { type: "SystemAssigned" }),
      next: { system: true, userAssigned: [] },
    },
    {
      name: "'SystemAssigned,UserAssigned' without the space is accepted",
      in: input({ system: false, userAssigned: [A] }, { type: "SystemAssigned,UserAssigned" }),
      next: { system: true, userAssigned: [A] },
    },
    {
      name: "UserAssigned drops the system-assigned one",
      in: input({ system: true, userAssigned: [A] }, { type: "UserAssigned" }),
      next: { system: false, userAssigned: [A] },
    },
    {
      name: "removing one that is not assigned is a no-op",
      in: input({ system: false, userAssigned: [A] }, { userAssignedIdentities: { [C]: null } }),
      next: { system: false, userAssigned: [A] },
    },
    {
      name: "an unknown identity passes when the check is switched off",
      in: input(
        { system: false, userAssigned: [] },
        { type: "UserAssigned", userAssignedIdentities: { [`${A}x`]: {} } },
        { checkExistence: false },
      ),
      next: { system: false, userAssigned: [`${A}x`] },
    },
  ];
  for (const c of ok) {
    it(c.name, () => {
      const r = decideIdentityChange(c.in);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.next, c.next);
    });
  }

  const many = Object.fromEntries(Array.from({ length: 151 }, (_, i) => [`${A}${i}`, {}]));
  const failures: Array<{ name: string; in: IdentityChangeInput; status: number; code: string }> = [
    {
      name: "UserAssigned with nothing left",
      in: input({ system: false, userAssigned: [A] }, { type: "UserAssigned", userAssignedIdentities: { [A]: null } }),
      status: 400,
      code: "InvalidParameter",
    },
    {
      name: "an identity that does not exist fails the whole request",
      in: input(
        { system: false, userAssigned: [] },
        { type: "UserAssigned", userAssignedIdentities: { [B]: {}, [`${A}x`]: {} } },
      ),
      status: 400,
      code: "FailedIdentityOperation",
    },
    {
      name: "more than 150 identities",
      in: input({ system: false, userAssigned: [] }, { type: "UserAssigned", userAssignedIdentities: many }),
      status: 400,
      code: "FailedIdentityOperation",
    },
    {
      name: "an unknown type",
      in: input({ system: false, userAssigned: [] }, { type: "Both" }),
      status: 400,
      code: "InvalidParameter",
    },
    {
      name: "adding with type None",
      in: input({ system: false, userAssigned: [] }, { type: "None", userAssignedIdentities: { [A]: {} } }),
      status: 400,
      code: "InvalidParameter",
    },
    {
      name: "identity not an object",
      in: input({ system: false, userAssigned: [] }, "UserAssigned"),
      status: 400,
      code: "InvalidRequestContent",
    },
    {
      name: "a value neither object nor null",
      in: input({ system: false, userAssigned: [] }, { userAssignedIdentities: { [A]: true } }),
      status: 400,
      code: "InvalidRequestContent",
    },
  ];
  for (const c of failures) {
    it(`refuses ${c.name}`, () => {
      const r = decideIdentityChange(c.in);
      assert.ok(!r.ok);
      assert.equal(r.error.status, c.status);
      assert.equal(r.error.body.error.code, c.code);
    });
  }

  it("limit counts removals too, and is switchable", () => {
    const removals = Object.fromEntries(Array.from({ length: 151 }, (_, i) => [`${A}${i}`, null]));
    assert.equal(
      decideIdentityChange(input({ system: false, userAssigned: [A] }, { userAssignedIdentities: removals })).ok,
      false,
    );
    assert.equal(
      decideIdentityChange(
        input({ system: false, userAssigned: [A] }, { userAssignedIdentities: removals }, { limit: undefined }),
      ).ok,
      true,
    );
  });

  it("derives the type from what remains", () => {
    assert.equal(identityTypeOf({ system: false, userAssigned: [] }), "None");
    assert.equal(identityTypeOf({ system: true, userAssigned: [] }), "SystemAssigned");
    assert.equal(identityTypeOf({ system: false, userAssigned: [A] }), "UserAssigned");
    assert.equal(identityTypeOf({ system: true, userAssigned: [A] }), "SystemAssigned, UserAssigned");
  });
});
