import assert from "node:assert/strict";
import { describe, it } from "mocha";
import type { LabelSelector } from "../../../src/model/types.ts";
import { globMatch, matchesAllLabels, matchesLabelSelector } from "../../../src/policy/index.ts";

describe("policy: label selectors", () => {
  const labels = { team: "a", env: "prod" };
  const cases: Array<{ sel: LabelSelector; want: boolean }> = [
    { sel: {}, want: true },
    { sel: { matchLabels: { team: "a" } }, want: true },
    { sel: { matchLabels: { team: "b" } }, want: false },
    { sel: { matchLabels: { team: "a", env: "dev" } }, want: false },
    { sel: { matchExpressions: [{ key: "env", operator: "In", values: ["prod", "stage"] }] }, want: true },
    { sel: { matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] }, want: false },
    { sel: { matchExpressions: [{ key: "zone", operator: "In", values: ["x"] }] }, want: false },
    { sel: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, want: false },
    { sel: { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["x"] }] }, want: true },
    { sel: { matchExpressions: [{ key: "team", operator: "Exists" }] }, want: true },
    { sel: { matchExpressions: [{ key: "zone", operator: "Exists" }] }, want: false },
    { sel: { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, want: true },
    { sel: { matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }, want: false },
    {
      sel: { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "NotIn", values: ["dev"] }] },
      want: true,
    },
  ];
  for (const c of cases)
    it(`${JSON.stringify(c.sel)} → ${c.want}`, () => assert.equal(matchesLabelSelector(labels, c.sel), c.want));
});

describe("policy: exception labels", () => {
  it("needs every label", () => {
    assert.equal(matchesAllLabels({ noaad: "true", app: "x" }, { noaad: "true" }), true);
    assert.equal(matchesAllLabels({ noaad: "false" }, { noaad: "true" }), false);
    assert.equal(matchesAllLabels({ noaad: "true" }, { noaad: "true", b: "1" }), false);
  });
  it("an empty set matches nothing", () => assert.equal(matchesAllLabels({ a: "b" }, {}), false));
});

describe("policy: glob patterns", () => {
  const cases: Array<[string, string, boolean]> = [
    ["*", "anything", true],
    ["/subscriptions/*/resourcegroups/team-a/*", "/subscriptions/s/resourceGroups/TEAM-A/providers/x/y", true],
    ["/subscriptions/*/resourcegroups/team-a/*", "/subscriptions/s/resourcegroups/team-ab/providers/x", false],
    ["abc", "ABC", true],
    ["abc", "abcd", false],
    ["a.c", "abc", false],
    ["a(b)+", "a(b)+", true],
    ["*-prod", "db-prod", true],
  ];
  for (const [p, v, want] of cases) it(`${p} ~ ${v} → ${want}`, () => assert.equal(globMatch(p, v), want));
});
