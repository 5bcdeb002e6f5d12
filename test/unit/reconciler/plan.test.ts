import assert from "node:assert/strict";
import {
  applyPatch,
  buildPatches,
  planTarget,
  type ArmIdentityState,
  type PlanInput,
} from "../../../src/reconciler/plan.ts";
import { identityKey } from "../../../src/reconciler/target.ts";

const id = (n: string): string =>
  `/subscriptions/s/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`;
const set = (...names: string[]): Map<string, string> => new Map(names.map((n) => [identityKey(id(n)), id(n)]));
const state = (type: string | undefined, ...names: string[]): ArmIdentityState => ({
  type,
  userAssigned: set(...names),
});
const owned = (...names: string[]) => new Map(names.map((n) => [identityKey(id(n)), { id: id(n), since: "t" }]));
const names = (m: ReadonlyMap<string, string>): string[] => [...m.values()].map((v) => v.split("/").pop()!).sort();

describe("reconciler/plan: what to add and remove on one target", () => {
  const base = (over: Partial<PlanInput>): PlanInput => ({
    desired: set(),
    actual: state(undefined),
    owned: owned(),
    unneededSince: new Map(),
    rejected: new Set(),
    now: 100_000,
    graceMs: 60_000,
    ...over,
  });
  const cases: Array<{
    name: string;
    input: PlanInput;
    add: string[];
    remove: string[];
    claim: string[];
    release: string[];
    wakeAt?: number;
  }> = [
    {
      name: "empty target, pods need a and b: add and claim both",
      input: base({ desired: set("a", "b") }),
      add: ["a", "b"],
      remove: [],
      claim: ["a", "b"],
      release: [],
    },
    {
      name: "steady state: nothing to do",
      input: base({ desired: set("a"), actual: state("UserAssigned", "a"), owned: owned("a") }),
      add: [],
      remove: [],
      claim: [],
      release: [],
    },
    {
      name: "identity already there by someone else: not added, not claimed",
      input: base({ desired: set("u"), actual: state("UserAssigned", "u") }),
      add: [],
      remove: [],
      claim: [],
      release: [],
    },
    {
      name: "user's identity no pod needs: left alone",
      input: base({ actual: state("UserAssigned", "u", "a"), owned: owned("a"), desired: set("a") }),
      add: [],
      remove: [],
      claim: [],
      release: [],
    },
    {
      name: "owned and unneeded within grace: kept, wake at end of grace",
      input: base({
        actual: state("UserAssigned", "a"),
        owned: owned("a"),
        unneededSince: new Map([[identityKey(id("a")), 90_000]]),
      }),
      add: [],
      remove: [],
      claim: [],
      release: [],
      wakeAt: 150_000,
    },
    {
      name: "owned and unneeded first seen now: grace starts now",
      input: base({ actual: state("UserAssigned", "a"), owned: owned("a") }),
      add: [],
      remove: [],
      claim: [],
      release: [],
      wakeAt: 160_000,
    },
    {
      name: "owned and unneeded past grace: removed",
      input: base({
        actual: state("UserAssigned", "a", "u"),
        owned: owned("a"),
        unneededSince: new Map([[identityKey(id("a")), 10_000]]),
      }),
      add: [],
      remove: ["a"],
      claim: [],
      release: [],
    },
    {
      name: "zero grace removes at once",
      input: base({ actual: state("UserAssigned", "a"), owned: owned("a"), graceMs: 0 }),
      add: [],
      remove: ["a"],
      claim: [],
      release: [],
    },
    {
      name: "owned, gone from the target and unneeded: released from the record",
      input: base({ owned: owned("a") }),
      add: [],
      remove: [],
      claim: [],
      release: [identityKey(id("a"))],
    },
    {
      name: "owned and needed but removed by someone: added again, no new claim",
      input: base({ desired: set("a"), owned: owned("a") }),
      add: ["a"],
      remove: [],
      claim: [],
      release: [],
    },
    {
      name: "rejected identity is left out, the rest goes on",
      input: base({ desired: set("a", "bad"), rejected: new Set([identityKey(id("bad"))]) }),
      add: ["a"],
      remove: [],
      claim: ["a"],
      release: [],
    },
    {
      name: "case differences between the binding and ARM are the same identity",
      input: base({ desired: new Map([[identityKey(id("A")), id("A")]]), actual: state("UserAssigned", "a") }),
      add: [],
      remove: [],
      claim: [],
      release: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = planTarget(c.input);
      assert.deepEqual(names(p.add), c.add);
      assert.deepEqual(names(p.remove), c.remove);
      assert.deepEqual(names(p.claim), c.claim);
      assert.deepEqual(p.release, c.release);
      assert.equal(p.wakeAt, c.wakeAt);
    });
  }
});

describe("reconciler/plan: PATCH bodies", () => {
  it("one PATCH with additions and removals (null) together", () => {
    const patches = buildPatches(state("UserAssigned", "old", "u"), set("new"), set("old"));
    assert.deepEqual(patches, [
      { type: "UserAssigned", userAssignedIdentities: { [id("old")]: null, [id("new")]: {} } },
    ]);
  });

  it("keeps a system-assigned identity in the type", () => {
    const [p] = buildPatches(state("SystemAssigned"), set("a"), new Map());
    assert.equal(p!.type, "SystemAssigned, UserAssigned");
  });

  const cases = [
    { name: "removing the last one on a plain target sets type None", type: undefined, expect: "None" },
    {
      name: "removing the last one keeps SystemAssigned",
      type: "SystemAssigned, UserAssigned",
      expect: "SystemAssigned",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const patches = buildPatches(state(c.type ?? "UserAssigned", "a"), new Map(), set("a"));
      assert.deepEqual(patches, [{ type: c.expect }]);
    });
  }

  it("splits at the per-request limit, removals first", () => {
    const add = new Map(Array.from({ length: 320 }, (_, i) => [identityKey(id(`n${i}`)), id(`n${i}`)]));
    const remove = set("gone");
    const patches = buildPatches(state("UserAssigned", "gone", "keep"), add, remove, 150);
    assert.deepEqual(
      patches.map((p) => Object.keys(p.userAssignedIdentities ?? {}).length),
      [150, 150, 21],
    );
    assert.equal(patches[0]!.userAssignedIdentities![id("gone")], null);
    let s = state("UserAssigned", "gone", "keep");
    for (const p of patches) s = applyPatch(s, p);
    assert.equal(s.userAssigned.size, 321);
    assert.equal(s.userAssigned.has(identityKey(id("gone"))), false);
  });

  it("nothing to do makes no PATCH", () => {
    assert.deepEqual(buildPatches(state("UserAssigned", "a"), new Map(), new Map()), []);
  });
});
