import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { effectivePolicy, identityViolations } from "../../../src/policy/index.ts";
import { identity, policy } from "./fixtures.ts";

describe("policy: effective policy (strictest wins)", () => {
  it("no policy: podid's defaults", () =>
    assert.deepEqual(effectivePolicy({ team: "a" }, []), {
      policies: [],
      onUnmatchedLabel: "Deny",
      onUnmatchedEnforced: true,
      enforcement: "Enforce",
      identityConstraints: [],
    }));

  it("ignores policies whose selector does not match", () =>
    assert.deepEqual(
      effectivePolicy({ team: "a" }, [policy("b-only", { matchLabels: { team: "b" } }, { onUnmatchedLabel: "Warn" })])
        .policies,
      [],
    ));

  const cases: Array<{
    name: string;
    pols: Parameters<typeof effectivePolicy>[1];
    want: Partial<ReturnType<typeof effectivePolicy>>;
  }> = [
    {
      name: "one Warn policy",
      pols: [policy("w", {}, { onUnmatchedLabel: "Warn" })],
      want: { onUnmatchedLabel: "Warn", enforcement: "Enforce" },
    },
    {
      name: "Warn and Deny: Deny",
      pols: [policy("w", {}, { onUnmatchedLabel: "Warn" }), policy("d", { matchLabels: { team: "a" } })],
      want: { onUnmatchedLabel: "Deny", onUnmatchedEnforced: true, policies: ["d", "w"] },
    },
    {
      name: "Audit only",
      pols: [policy("a", {}, { enforcement: "Audit" })],
      want: { enforcement: "Audit", onUnmatchedEnforced: false },
    },
    {
      name: "Audit and Enforce: Enforce",
      pols: [policy("a", {}, { enforcement: "Audit" }), policy("e", {})],
      want: { enforcement: "Enforce", onUnmatchedEnforced: true },
    },
    {
      name: "daemonset and sidecar: sidecar",
      pols: [policy("a", {}, { nmiMode: "daemonset" }), policy("b", {}, { nmiMode: "sidecar" })],
      want: { nmiMode: "sidecar" },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const eff = effectivePolicy({ team: "a" }, c.pols);
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(eff[k as keyof typeof eff], v, k);
    });

  it("an identity must be on every applicable list", () => {
    const id = identity("x", "team-a");
    const eff = effectivePolicy({ team: "a" }, [
      policy("team-rg", {}, { allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/team-a/*" }] }),
      policy("by-client", {}, { enforcement: "Audit", allowedIdentities: [{ clientID: "00000000-*" }] }),
      policy("no-list", {}),
    ]);
    assert.deepEqual(
      identityViolations(eff, id).map((v) => [v.policy, v.enforcement]),
      [["by-client", "Audit"]],
    );
  });
  it("an entry with both patterns needs both", () => {
    const id = identity("x", "team-a");
    const eff = effectivePolicy({}, [policy("p", {}, { allowedIdentities: [{ resourceID: "*", clientID: "ffff*" }] })]);
    assert.equal(identityViolations(eff, id).length, 1);
  });
  it("a resourceID pattern never matches an identity without one (service principal)", () => {
    const sp = identity("sp", "team-a", { type: 1, resourceID: undefined, tenantID: "t" });
    delete sp.resourceID;
    const eff = effectivePolicy({}, [policy("p", {}, { allowedIdentities: [{ resourceID: "*" }] })]);
    assert.equal(identityViolations(eff, sp).length, 1);
  });
  it("an empty list allows nothing", () => {
    const eff = effectivePolicy({}, [policy("p", {}, { allowedIdentities: [] })]);
    assert.equal(identityViolations(eff, identity("x", "n")).length, 1);
  });
});
