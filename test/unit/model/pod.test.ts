import assert from "node:assert/strict";
import {
  doctorPod,
  parseNmiPod,
  parseReconcilerPod,
  readPod,
  reconcilerPod,
  nmiPod,
  admissionPod,
} from "../../../src/model/pod.ts";

const raw = {
  metadata: {
    name: "web-1",
    namespace: "team-a",
    uid: "u-1",
    creationTimestamp: "2026-01-01T00:00:00Z",
    labels: { aadpodidbinding: "web", app: "web" },
    annotations: { "aadpodidentity.k8s.io/admission-mark": "v1.x", big: "x".repeat(2000) },
    managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }],
    ownerReferences: [{ kind: "ReplicaSet", name: "web-abc" }],
  },
  spec: {
    nodeName: "node-1",
    serviceAccountName: "web",
    containers: [
      { name: "app", env: [{ name: "AZURE_CLIENT_ID" }, { name: "X" }] },
      { name: "side", env: [] },
    ],
  },
  status: {
    phase: "Running",
    podIP: "10.0.0.5",
    podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }],
    conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: "2026-01-01T00:00:01Z" }],
  },
};

describe("model/pod: one pod view, one projection per program", () => {
  it("reads every field any program decides on, once", () => {
    const v = readPod(raw);
    assert.ok(v.ok);
    assert.equal(v.value.serviceAccountName, "web");
    assert.deepEqual(v.value.podIPs, ["10.0.0.5", "fd00::5"]);
    assert.equal(v.value.scheduledAt, Date.parse("2026-01-01T00:00:01Z"));
    assert.equal(v.value.deletionTimestamp, undefined);
  });

  it("the reconciler keeps no annotations, addresses, containers or managed fields", () => {
    const r = parseReconcilerPod(raw);
    assert.ok(r.ok);
    assert.deepEqual(Object.keys(r.value).sort(), [
      "admitted",
      "hostNetwork",
      "labels",
      "name",
      "namespace",
      "nodeName",
      "scheduledAt",
      "serviceAccountName",
      "terminated",
      "uid",
    ]);
    assert.ok(JSON.stringify(r.value).length < 300, JSON.stringify(r.value));
  });

  it("the NMI keeps addresses and annotations, and needs a namespace", () => {
    const n = parseNmiPod(raw);
    assert.ok(n.ok);
    assert.deepEqual(n.value.podIPs, ["10.0.0.5", "fd00::5"]);
    assert.equal(n.value.annotations["aadpodidentity.k8s.io/admission-mark"], "v1.x");
    const noNs = parseNmiPod({ metadata: { name: "p" } });
    assert.equal(noNs.ok, false);
    if (!noNs.ok) assert.equal(noNs.errors[0]!.field, "metadata.namespace");
  });

  it("the doctor keeps the containers' env var names", () => {
    const d = doctorPod(raw);
    assert.ok(d.ok);
    assert.deepEqual(d.value.containers, [
      { name: "app", env: ["AZURE_CLIENT_ID", "X"] },
      { name: "side", env: [] },
    ]);
    assert.equal(d.value.podIP, "10.0.0.5");
    assert.equal(d.value.phase, "Running");
    const pending = doctorPod({ metadata: { name: "p" }, spec: {} });
    assert.ok(pending.ok);
    assert.equal(pending.value.phase, undefined, "the doctor says nothing of a phase no kubelet reported");
  });

  it("strict reading (admission) names a bad label; lenient reading (watches) leaves it out", () => {
    const bad = { metadata: { labels: { ok: "y", n: 5 } }, spec: {} };
    const strict = readPod(bad, { path: "object", strict: true });
    assert.equal(strict.ok, false);
    if (!strict.ok) assert.equal(strict.errors[0]!.field, "object.metadata.labels.n");
    const lenient = readPod(bad);
    assert.ok(lenient.ok);
    assert.deepEqual(lenient.value.labels, { ok: "y" });
  });

  it("a deletion timestamp makes the NMI's pod deleting; a finished pod is terminated for the reconciler", () => {
    const v = readPod({
      metadata: {
        name: "p",
        namespace: "n",
        deletionTimestamp: "2026-01-01T00:00:00Z",
        deletionGracePeriodSeconds: 30,
      },
      spec: {},
      status: { phase: "Succeeded" },
    });
    assert.ok(v.ok);
    assert.equal(v.value.deletionGracePeriodSeconds, 30);
    assert.equal(nmiPod(v.value).deleting, true);
    assert.equal(reconcilerPod(v.value).terminated, true);
    assert.deepEqual(admissionPod(v.value), {
      labels: {},
      annotations: {},
      serviceAccountName: "default",
      hostNetwork: false,
    });
  });
});
