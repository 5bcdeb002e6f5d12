import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { effectivePolicy, exceptionsAllowed, identityAllowed, identityViolations } from "../../../src/policy/index.ts";
import { identity, policy } from "./fixtures.ts";

describe("policy: effective policy (strictest wins)", () => {
  it("no policy: podid's defaults", () =>
    assert.deepEqual(effectivePolicy({ team: "a" }, []), {
      policies: [],
      onUnmatchedLabel: "Deny",
      onUnmatchedEnforced: true,
      enforcement: "Enforce",
      identityConstraints: [],
      denyUnlisted: [],
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
  it("a clientID-only entry never allows a managed identity, only service principals", () => {
    const eff = effectivePolicy({}, [policy("p", {}, { allowedIdentities: [{ clientID: "*" }] })]);
    assert.equal(identityViolations(eff, identity("x", "n")).length, 1);
    const sp = identity("sp", "n", { type: 2, resourceID: undefined, tenantID: "t" });
    assert.equal(identityViolations(eff, sp).length, 0);
  });
  it("default-deny: unlisted identities violate each Deny policy; a listed one none", () => {
    const eff = effectivePolicy({ team: "a" }, [
      policy("dd", {}, { unlistedIdentities: "Deny" }),
      policy("dd-audit", {}, { unlistedIdentities: "Deny", enforcement: "Audit" }),
    ]);
    assert.deepEqual(
      identityViolations(eff, identity("x", "team-a")).map((v) => [v.policy, v.kind, v.enforcement]),
      [
        ["dd", "unlisted", "Enforce"],
        ["dd-audit", "unlisted", "Audit"],
      ],
    );
    assert.equal(identityAllowed(eff, identity("x", "team-a")), false);
    const listed = effectivePolicy({ team: "a" }, [
      policy("dd", {}, { unlistedIdentities: "Deny" }),
      policy("a", { matchLabels: { team: "a" } }, { allowedIdentities: [{ resourceID: "*/team-a/*" }] }),
    ]);
    assert.deepEqual(identityViolations(listed, identity("x", "team-a")), []);
    assert.equal(identityAllowed(listed, identity("x", "team-a")), true);
  });
  const exceptionCases: Array<[string, string, Parameters<typeof effectivePolicy>[1], boolean]> = [
    ["no policy, tenant namespace", "team-a", [], false],
    ["no policy, kube-system", "kube-system", [], true],
    ["no policy, podid-system", "podid-system", [], true],
    ["Allow", "team-a", [policy("a", {}, { exceptions: "Allow" })], true],
    ["Deny in kube-system", "kube-system", [policy("d", {}, { exceptions: "Deny" })], false],
    [
      "Allow and Deny",
      "team-a",
      [policy("a", {}, { exceptions: "Allow" }), policy("d", {}, { exceptions: "Deny" })],
      false,
    ],
    ["a policy silent on exceptions keeps the default", "team-a", [policy("s", {})], false],
  ];
  for (const [name, ns, pols, want] of exceptionCases)
    it(`exceptions: ${name}`, () => assert.equal(exceptionsAllowed(ns, effectivePolicy({}, pols)), want));
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
