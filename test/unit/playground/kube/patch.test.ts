import assert from "node:assert/strict";
import { applyPatchOfType, mergePatch, strategicMerge } from "../../../../src/playground/kube/patch.ts";
import { ApiError } from "../../../../src/playground/kube/status.ts";
import type { KObject } from "../../../../src/playground/kube/types.ts";

describe("playground kube patches", () => {
  it("merge patch merges objects, removes nulls and replaces lists", () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: null, d: 3 }, l: [3] }), {
      a: { b: 1, d: 3 },
      l: [3],
    });
  });

  const pod = {
    metadata: { finalizers: ["a"] },
    spec: {
      containers: [
        { name: "c", image: "nginx:1.25", env: [{ name: "A", value: "1" }], ports: [{ containerPort: 80 }] },
        { name: "side", image: "busybox" },
      ],
      volumes: [{ name: "v1", emptyDir: {} }],
      tolerations: [{ key: "x" }],
    },
  };
  interface Patched {
    metadata: { finalizers?: string[] };
    spec: {
      containers: Array<{ name: string; image?: string; env?: Array<{ name: string }>; ports?: unknown[] }>;
      volumes?: unknown[];
      tolerations?: unknown[];
    };
  }
  const cases: Array<{ name: string; patch: unknown; check: (out: Patched) => void }> = [
    {
      name: "kubectl's container image change with $setElementOrder keeps the other container",
      patch: {
        spec: {
          "$setElementOrder/containers": [{ name: "c" }, { name: "side" }],
          containers: [{ image: "nginx:1.26", name: "c" }],
        },
      },
      check: (o) =>
        assert.deepEqual(
          o.spec.containers.map((c) => `${c.name}=${c.image}`),
          ["c=nginx:1.26", "side=busybox"],
        ),
    },
    {
      name: "env merges by name",
      patch: { spec: { containers: [{ name: "c", env: [{ name: "B", value: "2" }] }] } },
      check: (o) =>
        assert.deepEqual(
          o.spec.containers[0]!.env!.map((e) => e.name),
          ["A", "B"],
        ),
    },
    {
      name: "ports merge by containerPort",
      patch: {
        spec: { containers: [{ name: "c", ports: [{ containerPort: 80, name: "http" }, { containerPort: 443 }] }] },
      },
      check: (o) =>
        assert.deepEqual(o.spec.containers[0]!.ports, [{ containerPort: 80, name: "http" }, { containerPort: 443 }]),
    },
    {
      name: "$patch: delete removes a keyed element",
      patch: { spec: { volumes: [{ name: "v1", $patch: "delete" }] } },
      check: (o) => assert.deepEqual(o.spec.volumes, []),
    },
    {
      name: "lists without a merge key are replaced",
      patch: { spec: { tolerations: [{ key: "y" }] } },
      check: (o) => assert.deepEqual(o.spec.tolerations, [{ key: "y" }]),
    },
    {
      name: "finalizers merge as a set and $deleteFromPrimitiveList removes",
      patch: { metadata: { finalizers: ["b"], "$deleteFromPrimitiveList/finalizers": ["a"] } },
      check: (o) => assert.deepEqual(o.metadata.finalizers, ["b"]),
    },
    {
      name: "$patch: replace on a map replaces it",
      patch: { spec: { $patch: "replace", containers: [{ name: "only", image: "x" }] } },
      check: (o) => assert.deepEqual(Object.keys(o.spec), ["containers"]),
    },
  ];
  for (const c of cases)
    it(`strategic merge: ${c.name}`, () => c.check(strategicMerge(structuredClone(pod), c.patch) as Patched));

  it("JSON patch applies operations and a failing test is a 422", () => {
    assert.deepEqual(
      applyPatchOfType("application/json-patch+json", { a: 1 }, [{ op: "replace", path: "/a", value: 2 }], false),
      { a: 2 },
    );
    assert.throws(
      () => applyPatchOfType("application/json-patch+json", { a: 1 }, [{ op: "test", path: "/a", value: 2 }], false),
      (e) => e instanceof ApiError && e.code === 422,
    );
  });

  it("refuses strategic merge for custom resources and unknown patch types with 415", () => {
    assert.throws(
      () => applyPatchOfType("application/strategic-merge-patch+json", {}, {}, false),
      (e) => e instanceof ApiError && e.code === 415,
    );
    assert.throws(
      () => applyPatchOfType("application/apply-patch+yaml", {}, {}, true),
      (e) => e instanceof ApiError && e.code === 415,
    );
  });
});

describe("playground kube typed decoding", () => {
  it("reports what a real server's JSON decoder would refuse", async () => {
    const { decodeError } = await import("../../../../src/playground/kube/strategy.ts");
    const { Registry } = await import("../../../../src/playground/kube/resources.ts");
    const pods = new Registry().get("", "v1", "pods")!;
    const ok = {
      metadata: { annotations: { a: "b" } },
      spec: { containers: [{ name: "c", env: [{ name: "A", value: "1" }] }] },
    };
    assert.equal(decodeError(pods, ok), undefined);
    assert.equal(
      decodeError(pods, JSON.parse('{"metadata":{"annotations":{"a":1}}}') as KObject),
      "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.annotations of type string",
    );
    assert.equal(
      decodeError(pods, { metadata: {}, spec: { containers: [{ name: "c", env: [{ name: "A", value: 1 }] }] } }),
      "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string",
    );
  });
});
