import assert from "node:assert/strict";
import { parseNamespace, parseNode, parsePod } from "../../../src/reconciler/kube-objects.ts";

describe("reconciler/kube-objects: slim views for the caches", () => {
  it("keeps what the reconciler needs from a pod", () => {
    const r = parsePod({
      metadata: { name: "p", namespace: "a", uid: "u", labels: { aadpodidbinding: "x", app: "y" } },
      spec: { nodeName: "n0", serviceAccountName: "sa", hostNetwork: true, containers: [{ name: "c" }] },
      status: {
        phase: "Running",
        conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: "2026-01-01T00:00:00Z" }],
      },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      name: "p",
      namespace: "a",
      uid: "u",
      labels: { aadpodidbinding: "x", app: "y" },
      serviceAccountName: "sa",
      hostNetwork: true,
      nodeName: "n0",
      terminated: false,
      scheduledAt: Date.parse("2026-01-01T00:00:00Z"),
      // Every field is there, set or undefined: one hidden class for every cached pod.
      admitted: undefined,
    });
  });
  it("reads the identities a v2 admission mark names; none for a v1 mark or no list", () => {
    const list = '[{"name":"reader","clientID":"c","resourceID":"/r"}]';
    const withAnn = (ann: Record<string, string>) =>
      parsePod({ metadata: { name: "p", labels: { aadpodidbinding: "x" }, annotations: ann } });
    const v2 = withAnn({
      "aadpodidentity.k8s.io/admission-mark": "v2.k.m",
      "aadpodidentity.k8s.io/admitted-identities": list,
    });
    assert.ok(v2.ok);
    assert.deepEqual(v2.value.admitted, [{ name: "reader", clientID: "c", resourceID: "/r" }]);
    const v1 = withAnn({
      "aadpodidentity.k8s.io/admission-mark": "v1.k.m",
      "aadpodidentity.k8s.io/admitted-identities": list,
    });
    assert.ok(v1.ok && v1.value.admitted === undefined);
    const broken = withAnn({
      "aadpodidentity.k8s.io/admission-mark": "v2.k.m",
      "aadpodidentity.k8s.io/admitted-identities": "{",
    });
    assert.ok(broken.ok);
    assert.deepEqual(broken.value.admitted, [], "a list that does not parse admits nothing");
  });
  const cases = [
    {
      name: "unlabelled pod keeps no labels",
      obj: { metadata: { name: "p", namespace: "a", labels: { app: "y" } } },
      check: (v: { labels: object }) => assert.deepEqual(v.labels, {}),
    },
    {
      name: "Succeeded is terminated",
      obj: { metadata: { name: "p" }, status: { phase: "Succeeded" } },
      check: (v: { terminated: boolean }) => assert.equal(v.terminated, true),
    },
    {
      name: "defaults: default namespace and service account",
      obj: { metadata: { name: "p" } },
      check: (v: { namespace: string; serviceAccountName: string }) =>
        assert.deepEqual([v.namespace, v.serviceAccountName], ["default", "default"]),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parsePod(c.obj);
      assert.ok(r.ok);
      c.check(r.value);
    });
  }
  const bad = [
    { obj: null, field: "metadata" },
    { obj: { metadata: {} }, field: "metadata.name" },
    { obj: { metadata: { name: 5 } }, field: "metadata.name" },
  ];
  for (const b of bad) {
    it(`refuses ${JSON.stringify(b.obj)} naming ${b.field}`, () => {
      const r = parsePod(b.obj);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.errors[0]!.field, b.field);
    });
  }
  it("nodes keep their providerID, namespaces their labels", () => {
    const n = parseNode({ metadata: { name: "n" }, spec: { providerID: "azure:///x" } });
    assert.ok(n.ok);
    assert.deepEqual(n.value, { name: "n", providerID: "azure:///x" });
    const ns = parseNamespace({ metadata: { name: "a", labels: { tier: "prod" } } });
    assert.ok(ns.ok);
    assert.deepEqual(ns.value, { name: "a", labels: { tier: "prod" } });
  });
});
