// The controller end to end over in-memory caches and an in-memory Resource Manager: the
// decisions (which writes, which statuses) without sockets. The integration tests run the same
// scenarios against the loopback Kubernetes API and the Resource Manager stand-in.
import assert from "node:assert/strict";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../../../src/model/types.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { Controller, type Sources } from "../../../src/reconciler/controller.ts";
import type { NamespaceInfo, NodeInfo, PodInfo } from "../../../src/reconciler/kube-objects.ts";
import {
  MemoryArm,
  MemoryCache,
  MemoryIdentities,
  memoryAssignedWriter,
  metaKey,
} from "../../../src/reconciler/memory.ts";
import { createMetrics } from "../../../src/reconciler/metrics.ts";
import { memoryOwnershipStore } from "../../../src/reconciler/records.ts";
import { identityKey } from "../../../src/reconciler/target.ts";
import { ArmError } from "../../../src/reconciler/vm-client.ts";

const SUB = "00000000-0000-0000-0000-0000000000aa";
const RG = "mc_rg";
const VMSS = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/pool1`;
const VM = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/solo`;
const idId = (n: string): string =>
  `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`;
const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  labels: {},
  annotations: {},
});

function world() {
  let clock = 1_000_000;
  const pods = new MemoryCache<PodInfo>((p) => p);
  const nodes = new MemoryCache<NodeInfo>((n) => n);
  const namespaces = new MemoryCache<NamespaceInfo>((n) => n);
  const identities = new MemoryCache<AzureIdentity>(metaKey);
  const bindings = new MemoryCache<AzureIdentityBinding>(metaKey);
  const exceptions = new MemoryCache<AzurePodIdentityException>(metaKey);
  const policies = new MemoryCache<AzurePodIdentityPolicy>(metaKey);
  const assigned = new MemoryCache<AzureAssignedIdentity>(metaKey);
  const sources: Sources = { pods, nodes, namespaces, identities, bindings, exceptions, policies, assigned };
  const arm = new MemoryArm();
  const armIdentities = new MemoryIdentities();
  const events: Array<{ name: string; type: string; reason: string; message: string }> = [];
  arm.set(VMSS, [idId("kubelet")]);
  arm.set(VM, []);
  const records = memoryOwnershipStore();
  const writer = memoryAssignedWriter(assigned);
  const wakes: number[] = [];
  nodes.put({ name: "n0", providerID: `azure://${VMSS}/virtualMachines/0` });
  nodes.put({ name: "n1", providerID: `azure://${VMSS}/virtualMachines/1` });
  nodes.put({ name: "n2", providerID: `azure://${VM}` });
  nodes.put({ name: "kind", providerID: "kind://docker/kind/kind-worker" });
  for (const ns of ["team-a", "team-b"]) namespaces.put({ name: ns, labels: {} });
  const deps = (armCacheMs = 300_000): ConstructorParameters<typeof Controller>[0] => ({
    sources,
    arm,
    identities: armIdentities,
    events: {
      record: (o, type, reason, message) => void events.push({ name: o.name, type, reason, message }),
      flush: () => Promise.resolve(),
    },
    records,
    assigned: writer,
    metrics: createMetrics(),
    log: silentLogger(),
    options: { graceMs: 60_000, armCacheMs, invalidRetryMs: 300_000, now: () => clock },
    wakeAt: (at) => void wakes.push(at),
  });
  const newController = (armCacheMs = 300_000) => new Controller(deps(armCacheMs));
  const addIdentity = (ns: string, name: string, type: 0 | 1 = 0) => {
    armIdentities.set(idId(name), `c-${name}`);
    identities.put({
      metadata: meta(name, ns),
      type,
      clientID: `c-${name}`,
      ...(type === 0 ? { resourceID: idId(name) } : { tenantID: "t", clientPassword: { name: "s", namespace: ns } }),
    });
    bindings.put({ metadata: meta(`${name}-binding`, ns), azureIdentity: name, selector: name });
  };
  const addPod = (ns: string, name: string, selector: string, node: string, admitted?: PodInfo["admitted"]) =>
    pods.put({
      ...(admitted !== undefined ? { admitted } : {}),
      name,
      namespace: ns,
      uid: `uid-${name}`,
      labels: { aadpodidbinding: selector },
      serviceAccountName: "default",
      hostNetwork: false,
      nodeName: node,
      terminated: false,
      scheduledAt: clock,
    });
  return {
    sources,
    pods,
    identities,
    bindings,
    armIdentities,
    events,
    deps,
    arm,
    records,
    writer,
    wakes,
    assigned,
    addIdentity,
    addPod,
    newController,
    advance: (ms: number) => (clock += ms),
    status: (ns: string, name: string) => assigned.get(name, ns)?.status,
  };
}

describe("reconciler/controller over memory caches", () => {
  it("a burst of pods costs one PATCH per target, and a second pass writes and reads nothing", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addIdentity("team-a", "writer");
    for (let i = 0; i < 20; i++) w.addPod("team-a", `p${i}`, i % 2 === 0 ? "reader" : "writer", `n${i % 3}`);
    const c = w.newController();
    const r = await c.reconcile();
    assert.equal(r.assignments, 20);
    assert.equal(w.arm.calls.patch, 2, "one for the scale set, one for the VM");
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet"), idId("reader"), idId("writer")].sort());
    assert.deepEqual(w.arm.ids(VM), [idId("reader"), idId("writer")].sort());
    assert.equal(w.status("team-a", "p0-reader")?.status, "Assigned");
    assert.equal(w.status("team-a", "p0-reader")?.target, VMSS);
    const calls = { ...w.arm.calls };
    const writes = w.writer.writes;
    await c.reconcile();
    assert.deepEqual(w.arm.calls, calls, "steady state: no Resource Manager call at all");
    assert.equal(w.writer.writes, writes, "steady state: no Kubernetes write");
  });

  it("attack: a spoofed ClientID is never assigned: Failed with both values, the honest identity unaffected", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addIdentity("team-b", "mine");
    // team-b's AzureIdentity names its own resource ID but claims team-a's ClientID.
    const mine = w.identities.get("mine", "team-b")!;
    w.identities.put({ ...mine, clientID: "c-reader" });
    w.addPod("team-a", "a", "reader", "n0");
    w.addPod("team-b", "b", "mine", "n0");
    const r = await w.newController().reconcile();
    assert.equal(r.identityReads, 2);
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet"), idId("reader")].sort(), "team-b's identity is not on the VM");
    assert.equal(w.status("team-a", "a-reader")?.status, "Assigned");
    const failed = w.status("team-b", "b-mine");
    assert.deepEqual([failed?.status, failed?.reason], ["Failed", "ClientIDMismatch"]);
    assert.match(
      failed?.message ?? "",
      /says ClientID c-reader, but Resource Manager says identity .*mine has client ID c-mine/,
    );
    assert.ok(w.events.some((e) => e.name === "b" && e.reason === "IdentityAssignmentFailed"));
  });

  it("an identity Resource Manager does not know is Failed IdentityNotFound and not assigned", async () => {
    const w = world();
    w.addIdentity("team-a", "ghost");
    const noGhost = new MemoryIdentities();
    w.addPod("team-a", "p", "ghost", "n0");
    const c = new Controller({ ...w.deps(), identities: noGhost });
    await c.reconcile();
    assert.equal(w.status("team-a", "p-ghost")?.reason, "IdentityNotFound");
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet")]);
  });

  it("a pod whose selector gains an identity after admission gets one Event saying to restart, and keeps its own", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addIdentity("team-a", "writer");
    w.addPod("team-a", "p", "reader", "n0", [{ name: "reader", clientID: "c-reader", resourceID: idId("reader") }]);
    w.bindings.put({ metadata: meta("more", "team-a"), azureIdentity: "writer", selector: "reader" });
    const c = w.newController();
    await c.reconcile();
    await c.reconcile();
    const told = w.events.filter((e) => e.reason === "IdentityNeedsRestart");
    assert.equal(told.length, 1);
    assert.match(
      told[0]!.message,
      /identity writer was bound to selector reader .* keeps the identities it was admitted with \(reader\)/,
    );
    assert.equal(w.status("team-a", "p-reader")?.status, "Assigned");
    assert.equal(w.status("team-a", "p-writer"), undefined);
  });

  it("never removes an identity it did not add; removes its own after the grace period", async () => {
    const w = world();
    w.addIdentity("team-a", "kubelet");
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "uses-kubelet", "kubelet", "n0");
    w.addPod("team-a", "uses-reader", "reader", "n0");
    const c = w.newController();
    await c.reconcile();
    assert.equal(w.arm.patches.length, 1);
    assert.deepEqual(
      Object.keys(w.arm.patches[0]!.patch.userAssignedIdentities!),
      [idId("reader")],
      "kubelet was there already: not added, not claimed",
    );
    w.pods.delete("uses-kubelet", "team-a");
    w.pods.delete("uses-reader", "team-a");
    await c.reconcile();
    assert.equal(w.arm.patches.length, 1, "within the grace period nothing is removed");
    assert.equal(w.wakes.at(-1), 1_000_000 + 60_000);
    assert.equal(w.assigned.size, 0, "AzureAssignedIdentities go with their pods");
    w.advance(61_000);
    await c.reconcile();
    assert.equal(w.arm.patches.length, 2);
    assert.deepEqual(w.arm.patches[1]!.patch.userAssignedIdentities, { [idId("reader")]: null });
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet")]);
    assert.equal(w.records.records.size, 0, "nothing owned any more");
  });

  it("a pod coming back within the grace period costs no write", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "p", "reader", "n2");
    const c = w.newController();
    await c.reconcile();
    w.pods.delete("p", "team-a");
    await c.reconcile();
    w.advance(30_000);
    w.addPod("team-a", "p2", "reader", "n2");
    await c.reconcile();
    w.advance(60_000);
    await c.reconcile();
    assert.equal(w.arm.calls.patch, 1);
  });

  it("one invalid identity is marked Failed and the others are still assigned", async () => {
    const w = world();
    for (const n of ["a", "b", "ghost", "c"]) w.addIdentity("team-a", n);
    w.arm.knownIdentities = new Set(["a", "b", "c"].map((n) => identityKey(idId(n))));
    for (const n of ["a", "b", "ghost", "c"]) w.addPod("team-a", `p-${n}`, n, "n0");
    const c = w.newController();
    await c.reconcile();
    assert.equal(w.arm.calls.patch, 2, "the refused request, then the rest at once");
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet"), idId("a"), idId("b"), idId("c")].sort());
    const failed = w.status("team-a", "p-ghost-ghost");
    assert.equal(failed?.status, "Failed");
    assert.equal(failed?.reason, "InvalidIdentity");
    assert.match(failed?.message ?? "", /ghost/);
    assert.equal(w.status("team-a", "p-a-a")?.status, "Assigned");
  });

  it("429 waits for Retry-After on that target only", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "on-vmss", "reader", "n0");
    w.addPod("team-a", "on-vm", "reader", "n2");
    w.arm.failNext.push(new ArmError(429, "OperationNotAllowed", "too many", 7_000));
    const c = w.newController();
    const r = await c.reconcile();
    assert.equal(r.pending, 1);
    assert.ok(w.wakes.includes(1_000_000 + 7_000));
    const assignedSomewhere = [w.arm.ids(VMSS).includes(idId("reader")), w.arm.ids(VM).includes(idId("reader"))];
    assert.deepEqual(assignedSomewhere.filter(Boolean).length, 1, "the other target went on");
    const patches = w.arm.calls.patch;
    await c.reconcile();
    assert.equal(w.arm.calls.patch, patches, "not retried before Retry-After");
    w.advance(7_000);
    await c.reconcile();
    assert.ok(w.arm.ids(VMSS).includes(idId("reader")) && w.arm.ids(VM).includes(idId("reader")));
  });

  it("a restarted controller knows what podid added: no duplicate write, removal still happens", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "p", "reader", "n0");
    await w.newController().reconcile();
    const c2 = w.newController();
    await c2.reconcile();
    assert.equal(w.arm.calls.patch, 1);
    w.pods.delete("p", "team-a");
    await c2.reconcile();
    w.advance(61_000);
    await c2.reconcile();
    assert.deepEqual(w.arm.ids(VMSS), [idId("kubelet")]);
  });

  it("service principals need no write; nodes outside Azure fail clearly; a selector bound only elsewhere gets nothing", async () => {
    const w = world();
    w.addIdentity("team-a", "sp", 1);
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "sp-pod", "sp", "n0");
    w.addPod("team-a", "kind-pod", "reader", "kind");
    w.addPod("team-b", "borrower", "reader", "n0");
    await w.newController().reconcile();
    assert.equal(w.arm.calls.patch, 0);
    assert.equal(w.status("team-a", "sp-pod-sp")?.status, "Assigned");
    assert.equal(w.status("team-a", "kind-pod-reader")?.status, "Failed");
    assert.equal(w.status("team-a", "kind-pod-reader")?.reason, "NodeNotOnAzure");
    assert.equal(w.assigned.list("team-b").length, 0);
  });

  it("someone removing podid's identity by hand is repaired on the next read", async () => {
    const w = world();
    w.addIdentity("team-a", "reader");
    w.addPod("team-a", "p", "reader", "n2");
    const c = w.newController(0);
    await c.reconcile();
    w.arm.set(VM, []);
    await c.reconcile();
    assert.deepEqual(w.arm.ids(VM), [idId("reader")]);
  });
  it("more than 150 identities for one target: split into requests of at most 150", async () => {
    const w = world();
    for (let i = 0; i < 160; i++) {
      w.addIdentity("team-a", `id${i}`);
      w.addPod("team-a", `p${i}`, `id${i}`, "n2");
    }
    await w.newController().reconcile();
    assert.deepEqual(
      w.arm.patches.map((p) => Object.keys(p.patch.userAssignedIdentities ?? {}).length),
      [150, 10],
    );
    assert.equal(w.arm.ids(VM).length, 160);
  });
});
