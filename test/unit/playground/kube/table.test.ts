import assert from "node:assert/strict";
import { humanDuration } from "../../../../src/playground/kube/columns.ts";
import { evalJsonPath, toTable, wantsTable } from "../../../../src/playground/kube/table.ts";
import { Registry } from "../../../../src/playground/kube/resources.ts";

describe("playground kube tables", () => {
  const durations: Array<[number, string]> = [
    [0, "0s"],
    [59_000, "59s"],
    [119_000, "119s"],
    [150_000, "2m30s"],
    [600_000, "10m"],
    [3 * 3600_000 + 5 * 60_000, "3h5m"],
    [30 * 3600_000, "30h"],
    [3 * 86400_000 + 4 * 3600_000, "3d4h"],
    [40 * 86400_000, "40d"],
    [800 * 86400_000, "2y70d"],
  ];
  for (const [ms, want] of durations) it(`age of ${ms}ms is ${want}`, () => assert.equal(humanDuration(ms), want));

  it("evaluates printer-column JSONPaths", () => {
    const o = { spec: { a: [{ b: 1 }, { b: 2 }], s: "x" } };
    assert.equal(evalJsonPath(o, ".spec.s"), "x");
    assert.equal(evalJsonPath(o, ".spec.a[1].b"), 2);
    assert.equal(evalJsonPath(o, ".spec.a[*].b"), "1,2");
    assert.equal(evalJsonPath(o, ".spec.missing"), undefined);
  });

  it("recognises kubectl's Table Accept header", () => {
    assert.equal(
      wantsTable(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
      ),
      true,
    );
    assert.equal(wantsTable("application/json"), false);
  });

  it("builds pod rows with wide-only columns and PartialObjectMetadata", () => {
    const pods = new Registry().get("", "v1", "pods")!;
    const now = Date.parse("2026-01-01T00:10:00Z");
    const t = toTable(
      pods,
      [
        {
          metadata: { name: "p", namespace: "ns", creationTimestamp: "2026-01-01T00:00:00Z" },
          spec: { containers: [{ name: "c" }], nodeName: "n1" },
          status: { phase: "Running", podIP: "127.10.0.1", containerStatuses: [{ ready: true, restartCount: 2 }] },
        },
      ],
      {},
      now,
    );
    assert.deepEqual(
      t.columnDefinitions.map((c) => `${c.name}:${c.priority}`),
      [
        "Name:0",
        "Ready:0",
        "Status:0",
        "Restarts:0",
        "Age:0",
        "IP:1",
        "Node:1",
        "Nominated Node:1",
        "Readiness Gates:1",
      ],
    );
    assert.deepEqual(t.rows[0]!.cells, ["p", "1/1", "Running", "2", "10m", "127.10.0.1", "n1", "<none>", "<none>"]);
    assert.equal((t.rows[0]!.object.metadata as { namespace: string }).namespace, "ns");
  });
});
