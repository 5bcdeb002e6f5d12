import assert from "node:assert/strict";
import {
  labelSelectorObject,
  parseFieldSelector,
  parseLabelSelector,
  pinnedField,
} from "../../../../src/playground/kube/selectors.ts";
import { ApiError } from "../../../../src/playground/kube/status.ts";
import type { KObject } from "../../../../src/playground/kube/types.ts";

describe("playground kube selectors", () => {
  const labels = { app: "web", tier: "front", aadpodidbinding: "myapp" };
  const cases: Array<[string, boolean]> = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["app=web,tier=back", false],
    ["tier in (front, back)", true],
    ["tier notin (front)", false],
    ["missing notin (x)", true],
    ["aadpodidbinding", true],
    ["!aadpodidbinding", false],
    ["!missing,app in (web)", true],
  ];
  for (const [sel, want] of cases) {
    it(`label selector "${sel}" → ${want}`, () => assert.equal(parseLabelSelector(sel)(labels), want));
  }

  it("refuses an invalid label selector with a 400", () => {
    assert.throws(
      () => parseLabelSelector("a b=c"),
      (e) => e instanceof ApiError && e.code === 400,
    );
  });

  const objCases: Array<[unknown, boolean]> = [
    [{}, true],
    [{ matchLabels: { app: "web" } }, true],
    [{ matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }] }, true],
    [{ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, false],
    [{ matchExpressions: [{ key: "tier", operator: "Bogus" }] }, false],
    [null, false],
  ];
  for (const [sel, want] of objCases) {
    it(`LabelSelector ${JSON.stringify(sel)} → ${want}`, () => assert.equal(labelSelectorObject(sel)(labels), want));
  }

  const pod: KObject = {
    metadata: { name: "p", namespace: "ns" },
    spec: { nodeName: "n1" },
    status: { phase: "Running", podIP: "127.10.0.1" },
  };
  const fieldCases: Array<[string, boolean]> = [
    ["metadata.name=p", true],
    ["metadata.namespace!=ns", false],
    ["spec.nodeName=n1,status.phase=Running", true],
    ["status.podIP=127.10.0.2", false],
    ["spec.hostNetwork=false", true],
  ];
  for (const [sel, want] of fieldCases) {
    it(`field selector "${sel}" on pods → ${want}`, () => assert.equal(parseFieldSelector(sel, "pods")(pod), want));
  }

  it("refuses field labels the resource does not support, as the real server words it", () => {
    assert.throws(
      () => parseFieldSelector("spec.nodeName=n1", "configmaps"),
      /field label not supported: spec.nodeName/,
    );
  });

  it("finds the pinned value of a field", () => {
    assert.equal(pinnedField("metadata.name=x,spec.nodeName=y", "metadata.name"), "x");
    assert.equal(pinnedField("metadata.name!=x", "metadata.name"), undefined);
  });
});
