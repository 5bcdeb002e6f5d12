// The reconciler end to end: the playground API server (informers, AzureAssignedIdentities,
// Events, Lease, ownership ConfigMaps) and the Resource Manager stand-in through the real SDK.
import assert from "node:assert/strict";
import { SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { startWorld, until, type World } from "./world.ts";

const statuses = async (w: World): Promise<Record<string, string>> =>
  Object.fromEntries((await w.assigned()).map((a) => [a.metadata.name, a.status?.status ?? ""]));

describe("reconciler against the playground cluster and Resource Manager", function () {
  this.timeout(60_000);
  let w: World;
  beforeEach(async () => {
    w = await startWorld();
  });
  afterEach(async () => {
    await w?.stop();
  });

  it("pods come and go: scale sets and VMs converge with one write each, removal after grace, the kubelet identity untouched", async () => {
    await w.addIdentity("demo-reader");
    await w.addIdentity("demo-writer");
    const r = await w.start();
    await w.addPod("p1", "demo-reader", "uniform0");
    await w.addPod("p2", "demo-reader", "uniform1");
    await w.addPod("p3", "demo-writer", "flex");
    await w.addPod("p4", "demo-reader", "vm");
    await until("all Assigned", async () => {
      const s = await statuses(w);
      return Object.keys(s).length === 4 && Object.values(s).every((x) => x === "Assigned");
    });
    assert.deepEqual(w.onTarget("uniform0"), ["demo-reader", "podid-playground-agentpool"]);
    assert.deepEqual(w.onTarget("flex"), ["demo-writer", "podid-playground-agentpool"]);
    assert.deepEqual(w.onTarget("vm"), ["demo-reader", "podid-playground-agentpool"]);
    assert.equal(
      w.f.pg.calls.armWrites({ status: 200 }) +
        w.f.pg.calls.armWrites({ status: 201 }) +
        w.f.pg.calls.armWrites({ status: 202 }),
      3,
      "one write per scale set or VM",
    );
    await until("IdentityAssigned event", async () =>
      (await w.events()).some((e) => e.reason === "IdentityAssigned" && e.involvedObject.name === "p1"),
    );

    const writes = w.f.pg.calls.armWrites();
    await r.nextReconcile();
    assert.equal(w.f.pg.calls.armWrites(), writes, "steady state: no write");

    for (const p of ["p1", "p2", "p3", "p4"]) await w.deletePod(p);
    await until("identities removed after grace", () =>
      ["uniform0", "flex", "vm"].every((n) => w.onTarget(n as "vm").join() === "podid-playground-agentpool"),
    );
    assert.equal((await w.assigned()).length, 0);
    const records = async (): Promise<number> =>
      (
        await kubeRequest<{ items: unknown[] }>(w.c.kc, {
          path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`,
          query: { labelSelector: "aadpodidentity.k8s.io/owned-identities=true" },
        })
      ).items.length;
    await until("ownership records gone: nothing owned any more", async () => (await records()) === 0);
    const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
    assert.match(text, /podid_arm_requests_total\{operation="patch",result="success"\} 6/);
    assert.match(text, /podid_assignment_latency_seconds_count 4/);
  });

  it("429 waits for Retry-After and 409 backs off; both converge", async () => {
    await w.addIdentity("demo-reader");
    w.f.pg.faults.injectArm({ status: 429, code: "OperationNotAllowed", message: "throttled", retryAfterSeconds: 1 });
    w.f.pg.faults.injectArm({ status: 409, code: "Conflict", message: "another operation is in progress" });
    await w.start();
    await w.addPod("p1", "demo-reader", "vm");
    await until("Assigned", async () => (await statuses(w))["p1-demo-reader"] === "Assigned");
    const writes = w.f.pg.calls.list({ service: "arm", method: "PATCH" });
    const throttled = writes.findIndex((c) => c.status === 429);
    assert.ok(throttled >= 0 && writes[throttled + 1] !== undefined);
    assert.ok(writes[throttled + 1]!.at >= writes[throttled]!.at + 1000, "the next write waited for Retry-After (1 s)");
    assert.equal(w.f.pg.calls.armWrites({ status: 429 }), 1);
    assert.equal(w.f.pg.calls.armWrites({ status: 409 }), 1);
    assert.deepEqual(w.onTarget("vm"), ["demo-reader", "podid-playground-agentpool"]);
  });

  it("attack: an AzureIdentity claiming another identity's ClientID is read back with @azure/arm-msi, Failed, never assigned", async () => {
    const reader = w.f.cloud.identities.find((i) => i.name === "demo-reader")!;
    await w.addIdentity("demo-reader");
    // team-a's other identity, "other-team", written with demo-reader's ClientID.
    await w.addIdentity("other-team", undefined, reader.clientId);
    await w.start();
    await w.addPod("honest", "demo-reader", "uniform1");
    await w.addPod("spoofer", "other-team", "uniform1");
    await until("settled", async () => {
      const s = await statuses(w);
      return s["honest-demo-reader"] === "Assigned" && s["spoofer-other-team"] === "Failed";
    });
    const spoof = (await w.assigned()).find((a) => a.metadata.name === "spoofer-other-team")!;
    assert.equal(spoof.status?.reason, "ClientIDMismatch");
    const real = w.f.cloud.identities.find((i) => i.name === "other-team")!.clientId;
    assert.match(
      spoof.status?.message ?? "",
      new RegExp(
        `says ClientID ${reader.clientId}, but Resource Manager says identity .*other-team has client ID ${real}`,
      ),
    );
    assert.deepEqual(w.onTarget("uniform1"), ["demo-reader", "podid-playground-agentpool"]);
    assert.ok(
      w.f.pg.calls.list({ service: "arm", method: "GET" }).some((c) => c.resource === "userAssignedIdentities"),
      "read from Resource Manager's userAssignedIdentities",
    );
  });

  it("without read permission on an identity, it is Failed IdentityNotReadable naming the permission, and not assigned", async () => {
    await w.addIdentity("demo-writer");
    w.f.pg.faults.unreadableIdentities.add(w.idOf("demo-writer").toLowerCase());
    await w.start();
    await w.addPod("p", "demo-writer", "uniform0");
    await until("Failed", async () => (await statuses(w))["p-demo-writer"] === "Failed");
    const a = (await w.assigned()).find((x) => x.metadata.name === "p-demo-writer")!;
    assert.equal(a.status?.reason, "IdentityNotReadable");
    assert.match(
      a.status?.message ?? "",
      /AuthorizationFailed.*Microsoft\.ManagedIdentity\/userAssignedIdentities\/read/,
    );
    assert.deepEqual(w.onTarget("uniform0"), ["podid-playground-agentpool"]);
  });

  it("an identity Resource Manager does not have is marked Failed before any write; every other identity is assigned", async () => {
    await w.addIdentity("demo-reader");
    await w.addIdentity("demo-writer");
    await w.addIdentity("ghost");
    await w.addIdentity("other-team");
    await w.start();
    for (const id of ["demo-reader", "ghost", "demo-writer", "other-team"]) await w.addPod(`p-${id}`, id, "uniform0");
    await until("settled", async () => {
      const s = await statuses(w);
      return Object.keys(s).length === 4 && Object.values(s).every((x) => x === "Assigned" || x === "Failed");
    });
    const ghost = (await w.assigned()).find((a) => a.metadata.name === "p-ghost-ghost")!;
    assert.equal(ghost.status?.status, "Failed");
    assert.equal(ghost.status?.reason, "IdentityNotFound");
    assert.match(ghost.status?.message ?? "", /ghost/);
    const patches = w.f.pg.calls.list({ service: "arm", method: "PATCH" });
    assert.ok(patches.length > 0 && patches.every((c) => c.status < 400), "no write was refused: ghost was never sent");
    assert.deepEqual(w.onTarget("uniform0"), [
      "demo-reader",
      "demo-writer",
      "other-team",
      "podid-playground-agentpool",
    ]);
    await until("IdentityAssignmentFailed event", async () =>
      (await w.events()).some((e) => e.reason === "IdentityAssignmentFailed" && e.involvedObject.name === "p-ghost"),
    );
  });

  it("leader failover mid-batch: the new leader completes the work without duplicate or lost assignments", async () => {
    await w.addIdentity("demo-reader");
    await w.addIdentity("demo-writer");
    w.f.pg.setLroDuration(800);
    const a = await w.start({ leaderElect: true, identity: "a" });
    await until("a leads", () => a.isLeader());
    const b = await w.start({ leaderElect: true, identity: "b" });
    await w.addPod("p1", "demo-reader", "uniform0");
    await w.addPod("p2", "demo-writer", "vm");
    await until("a write in flight", () => w.f.pg.calls.armWrites() >= 1);
    await a.stop({ release: false }); // crash: the Lease still names a until it expires
    assert.equal(b.isLeader(), false);
    await until("b leads", () => b.isLeader(), 10_000);
    await until("all Assigned", async () => {
      const s = await statuses(w);
      return Object.keys(s).length === 2 && Object.values(s).every((x) => x === "Assigned");
    });
    assert.deepEqual(w.onTarget("uniform0"), ["demo-reader", "podid-playground-agentpool"]);
    assert.deepEqual(w.onTarget("vm"), ["demo-writer", "podid-playground-agentpool"]);
    assert.ok(
      w.f.pg.calls.armWrites() <= 4,
      `at most one write per target per leader, got ${w.f.pg.calls.armWrites()}`,
    );
    // b knows what a added: once the pods go, b removes them (and nothing else).
    w.f.pg.setLroDuration(20);
    await w.deletePod("p1");
    await w.deletePod("p2");
    await until(
      "b removed a's identities",
      () =>
        w.onTarget("uniform0").join() === "podid-playground-agentpool" &&
        w.onTarget("vm").join() === "podid-playground-agentpool",
    );
  });

  it("a restart keeps what users attached: pre-existing identities are neither claimed nor removed", async () => {
    await w.addIdentity("demo-reader");
    await w.addIdentity("other-team");
    // A user attached other-team to the VM by hand before podid ran.
    const { ComputeManagementClient } = await import("@azure/arm-compute");
    const { reconcilerCredential } = await import("../../helpers/azure.ts");
    const sdk = new ComputeManagementClient(reconcilerCredential(w.f), w.f.cloud.subscriptionId, {
      endpoint: w.f.pg.armUrl,
      tlsOptions: { ca: w.f.pg.caPem },
    });
    await sdk.virtualMachines.beginUpdateAndWait(
      "mc_podid_playground_westeurope",
      "aks-standalone-0",
      { identity: { type: "UserAssigned", userAssignedIdentities: { [w.idOf("other-team")]: {} } } },
      { updateIntervalInMs: 20 },
    );
    w.f.pg.calls.reset();

    const r1 = await w.start();
    await w.addPod("uses-user-id", "other-team", "vm");
    await w.addPod("uses-reader", "demo-reader", "vm");
    await until("Assigned", async () => {
      const s = await statuses(w);
      return s["uses-user-id-other-team"] === "Assigned" && s["uses-reader-demo-reader"] === "Assigned";
    });
    assert.equal(w.f.pg.calls.armWrites(), 1, "only demo-reader was missing");
    await r1.stop();

    await w.start();
    await w.deletePod("uses-user-id");
    await w.deletePod("uses-reader");
    await until("demo-reader removed", () => !w.onTarget("vm").includes("demo-reader"));
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(w.onTarget("vm"), ["other-team", "podid-playground-agentpool"]);
  });
});
