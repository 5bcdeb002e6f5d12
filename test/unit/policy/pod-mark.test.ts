// What a pod's mark entitles it to after bindings change: the admitted identities that are
// still bound as admitted, never one bound later, and nothing when the list was tampered with.
import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  NMI_MODE_ANNOTATION,
} from "../../../src/model/constants.ts";
import type { AzureIdentity } from "../../../src/model/types.ts";
import {
  checkPodMark,
  claimsFor,
  formatAdmittedIdentities,
  markIdentity,
  parseAdmissionKeys,
  signAdmissionMark,
} from "../../../src/policy/index.ts";
import { identity, legacyMark } from "./fixtures.ts";

const K = "k1-0123456789abcdef0123456789abcdef";
const keys = parseAdmissionKeys(K);
const reader = identity("reader", "team-a", { clientID: "11111111-1111-4111-8111-111111111111" });
const writer = identity("writer", "team-a", { clientID: "22222222-2222-4222-8222-222222222222" });

function admitted(ids: AzureIdentity[], mode: "daemonset" | "sidecar" = "daemonset"): Record<string, string> {
  return {
    [ADMISSION_MARK_ANNOTATION]: signAdmissionMark(keys, claimsFor("team-a", "default", "app", ids, mode)),
    [ADMITTED_IDENTITIES_ANNOTATION]: formatAdmittedIdentities(ids.map(markIdentity)),
    [NMI_MODE_ANNOTATION]: mode,
  };
}
const check = (annotations: Record<string, string>, bound: AzureIdentity[]) =>
  checkPodMark(keys, { namespace: "team-a", serviceAccountName: "default", selector: "app", annotations, bound });
const names = (ids: Array<{ metadata: { name: string } }>): string[] => ids.map((i) => i.metadata.name);

describe("policy: what an admission mark entitles a pod to", () => {
  it("admitted and still bound: usable", () => {
    const r = check(admitted([reader]), [reader]);
    assert.ok(r.valid);
    assert.deepEqual([names(r.usable), names(r.notAdmitted), r.gone], [["reader"], [], []]);
  });

  it("an identity bound after admission is not usable, and is reported as needing a restart", () => {
    const r = check(admitted([reader]), [reader, writer]);
    assert.ok(r.valid);
    assert.deepEqual([names(r.usable), names(r.notAdmitted)], [["reader"], ["writer"]]);
  });

  it("one of two identities unbound: the other stays usable", () => {
    const r = check(admitted([reader, writer]), [writer]);
    assert.ok(r.valid);
    assert.deepEqual([names(r.usable), r.gone.map((g) => g.name)], [["writer"], ["reader"]]);
  });

  it("attack: an identity edited since admission (another client ID or resource ID) is not usable", () => {
    const spoofed = { ...reader, clientID: writer.clientID };
    const moved = { ...reader, resourceID: writer.resourceID };
    for (const changed of [spoofed, moved]) {
      const r = check(admitted([reader]), [changed]);
      assert.ok(r.valid);
      assert.deepEqual([names(r.usable), names(r.notAdmitted)], [[], ["reader"]]);
    }
  });

  it("attack: a list extended by hand fails the mark", () => {
    const a = admitted([reader]);
    a[ADMITTED_IDENTITIES_ANNOTATION] = formatAdmittedIdentities([reader, writer].map(markIdentity));
    const r = check(a, [reader, writer]);
    assert.equal(r.valid, false);
    if (!r.valid) assert.match(r.reason, /does not match/);
  });

  it("attack: switching the NMI mode annotation fails the mark", () => {
    const a = admitted([reader], "sidecar");
    a[NMI_MODE_ANNOTATION] = "daemonset";
    assert.equal(check(a, [reader]).valid, false);
  });

  const broken: Array<[string, Record<string, string>, RegExp]> = [
    ["no mark", {}, /no admission mark/],
    [
      "a mark without its list",
      { [ADMISSION_MARK_ANNOTATION]: admitted([reader])[ADMISSION_MARK_ANNOTATION]! },
      /no admitted-identities/,
    ],
    ["a list that is not JSON", { ...admitted([reader]), [ADMITTED_IDENTITIES_ANNOTATION]: "reader" }, /malformed/],
    [
      "a list of the wrong shape",
      { ...admitted([reader]), [ADMITTED_IDENTITIES_ANNOTATION]: '[{"name":1}]' },
      /malformed/,
    ],
  ];
  for (const [name, annotations, reason] of broken)
    it(`refuses ${name}`, () => {
      const r = check(annotations, [reader]);
      assert.equal(r.valid, false);
      if (!r.valid) assert.match(r.reason, reason);
    });

  it("a v1 mark (podid before the admitted list) verifies against what is bound now, as it always did", () => {
    const ann = { [ADMISSION_MARK_ANNOTATION]: legacyMark(K, claimsFor("team-a", "default", "app", [reader])) };
    const r = check(ann, [reader]);
    assert.ok(r.valid);
    assert.deepEqual(names(r.usable), ["reader"]);
    assert.equal(check(ann, [reader, writer]).valid, false);
  });
});
