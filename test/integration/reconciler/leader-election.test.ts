// Lease-based leader election and Events against the playground API server, through
// client-node's credentials and TLS.
import assert from "node:assert/strict";
import { createEventRecorder } from "../../../src/kube/events.ts";
import { startLeaderElection, type LeaderElector } from "../../../src/kube/leader-election.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";

const until = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

interface Lease {
  spec: { holderIdentity?: string | null; leaseTransitions?: number; leaseDurationSeconds?: number };
}

describe("kube/leader-election on a coordination.k8s.io Lease", () => {
  let c: TestCluster;
  const electors: LeaderElector[] = [];
  before(async () => {
    c = await startTestCluster({ simulateKubelet: false });
  });
  after(async () => {
    await Promise.all(electors.map((e) => e.stop({ release: false })));
    await c?.stop();
  });

  const candidate = (name: string, identity: string, log: string[]) => {
    const e = startLeaderElection(c.kc, {
      namespace: "default",
      name,
      identity,
      leaseDurationMs: 1000,
      renewDeadlineMs: 800,
      retryPeriodMs: 100,
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    });
    electors.push(e);
    return e;
  };
  const lease = (name: string) =>
    kubeRequest<Lease>(c.kc, { path: `/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}` });

  it("exactly one of two candidates leads, and the Lease names it", async () => {
    const log: string[] = [];
    const a = candidate("one-leader", "a", log);
    const b = candidate("one-leader", "b", log);
    await until("a leader", () => a.isLeader() || b.isLeader());
    await new Promise((r) => setTimeout(r, 400));
    assert.notEqual(a.isLeader(), b.isLeader());
    const holder = a.isLeader() ? "a" : "b";
    assert.equal((await lease("one-leader")).spec.holderIdentity, holder);
    assert.deepEqual(log, [`${holder} started`]);
  });

  it("a released lease is taken over at once; a crashed leader's after the lease duration", async () => {
    const log: string[] = [];
    const a = candidate("failover", "a", log);
    await until("a leads", () => a.isLeader());
    const b = candidate("failover", "b", log);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.isLeader(), false, "b waits while a renews");

    await a.stop({ release: true });
    assert.ok(
      !(await lease("failover")).spec.holderIdentity,
      "released: the Lease names no holder, so b need not wait for expiry",
    );
    await until("b leads", () => b.isLeader());
    assert.equal((await lease("failover")).spec.holderIdentity, "b");

    const c2 = candidate("failover", "c", log);
    await b.stop({ release: false }); // a crash: the Lease still names b
    assert.equal((await lease("failover")).spec.holderIdentity, "b");
    await until("c leads after expiry", () => c2.isLeader(), 5000);
    const l = await lease("failover");
    assert.equal(l.spec.holderIdentity, "c");
    assert.ok((l.spec.leaseTransitions ?? 0) >= 2);
    assert.deepEqual(log, ["a started", "a stopped", "b started", "b stopped", "c started"]);
  });

  it("records Events and counts repeats instead of creating new ones", async () => {
    const rec = createEventRecorder(c.kc, { component: "podid-test", instance: "t1" });
    const pod = { kind: "Pod", name: "p", namespace: "default", uid: "u-1" };
    rec.record(pod, "Normal", "IdentityAssigned", "identity x assigned");
    await rec.flush();
    rec.record(pod, "Normal", "IdentityAssigned", "identity x assigned");
    rec.record(pod, "Warning", "IdentityAssignmentFailed", "identity y: InvalidIdentity");
    await rec.flush();
    const list = await kubeRequest<{
      items: Array<{ reason: string; count: number; type: string; involvedObject: { name: string } }>;
    }>(c.kc, { path: "/api/v1/namespaces/default/events" });
    const mine = list.items.filter((e) => e.involvedObject.name === "p");
    assert.deepEqual(mine.map((e) => [e.reason, e.type, e.count]).sort(), [
      ["IdentityAssigned", "Normal", 2],
      ["IdentityAssignmentFailed", "Warning", 1],
    ]);
  });
});
