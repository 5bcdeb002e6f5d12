// The reconciler on a real API server, as config/'s podid-reconciler ServiceAccount, against the
// playground's Resource Manager: AzureAssignedIdentity objects written with podid's spec and
// their status through the status subresource (Assigned, or Failed with Resource Manager's
// reason), shown by kubectl's printer columns, and removed with their pod. Then two
// reconcilers on the real Lease: one leads, the leader is killed (SIGKILL, no release), and the
// other takes over and does the work.
import assert from "node:assert/strict";
import { kubeRequest } from "../../../src/kube/request.ts";
import { API_VERSION, RECONCILER, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { identityId } from "../../../src/playground/azure/index.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import {
  NODES,
  assignment,
  identityAndBinding,
  runningPod,
  sharedPodid,
  slowly,
  type PodidCluster,
  type RunningProgram,
  admittedPod,
} from "../../helpers/podid-real.ts";

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${RECONCILER.leaseName}`;

async function leads(r: RunningProgram): Promise<boolean> {
  const text = await fetch(`${r.url}/metrics`).then(
    (x) => x.text(),
    () => "",
  );
  return /^podid_reconciler_leader 1$/m.test(text);
}

const podFor = (p: PodidCluster, ns: string, name: string, selector: string, node = NODES[0]!.name) =>
  admittedPod(p, ns, name, selector, node);

describe("real cluster: the reconciler's AzureAssignedIdentities", function () {
  this.timeout(120_000);
  let p: PodidCluster;
  let azure: AzureFixture;
  let ns: string;
  let reconciler: RunningProgram;

  before(async () => {
    ({ p } = await sharedPodid());
    azure = await startTestAzure();
    ns = await p.namespace("aai");
    reconciler = await p.startReconciler(azure);
  });
  after(async () => {
    await reconciler?.stop();
    await azure?.pg.stop();
  });

  it("writes one per pod and identity with podid's spec, and its status Assigned through the status subresource", async () => {
    assert.equal(
      (await p.kubectl(["apply", "-n", ns, "-f", "-"], identityAndBinding(azure, "demo-reader", "reader"))).code,
      0,
    );
    const pod = await podFor(p, ns, "app", "reader");
    const aai = await assignment(p, pod);
    const id = azure.cloud.identities.find((i) => i.name === "demo-reader")!;
    assert.deepEqual(
      {
        pod: aai.spec.pod,
        podNamespace: aai.spec.podNamespace,
        podUID: aai.spec.podUID,
        nodeName: aai.spec.nodeName,
        identity: (aai.spec.azureIdentityRef as { name: string; clientID: string }).clientID,
        selector: (aai.spec.azureBindingRef as { selector: string }).selector,
      },
      {
        pod: "app",
        podNamespace: ns,
        podUID: pod.metadata.uid,
        nodeName: NODES[0]!.name,
        identity: id.clientId,
        selector: "reader",
      },
    );
    assert.match(aai.status.target ?? "", /\/virtualMachineScaleSets\/aks-nodepool1-12345678-vmss$/);
    const onArm = azure.pg.identitiesOf(aai.status.target!)?.effective.userAssigned ?? [];
    const wanted = identityId(azure.cloud.subscriptionId, id.resourceGroup, id.name).toLowerCase();
    assert.ok(
      onArm.some((k) => k.toLowerCase() === wanted),
      JSON.stringify(onArm),
    );
    // The status subresource is the only way to status: a write of the main resource cannot change it.
    const path = `/apis/${API_VERSION}/namespaces/${ns}/azureassignedidentities/${aai.metadata.name}`;
    const current = await kubeRequest<{ status: Record<string, unknown> }>(p.cp.kc, { path });
    await kubeRequest(p.cp.kc, {
      method: "PUT",
      path,
      body: { ...current, status: { status: "Failed", reason: "tampered" } },
    });
    const after = await kubeRequest<{ status: { status: string } }>(p.cp.kc, { path });
    assert.equal(after.status.status, "Assigned");
  });

  it("is what kubectl shows, with the CRD's printer columns", async () => {
    const r = await p.kubectl(["get", "azaid", "-n", ns]);
    assert.equal(r.code, 0, r.stderr);
    const [head, row] = r.stdout.trim().split("\n");
    assert.match(head!, /^NAME\s+POD\s+IDENTITY\s+NODE\s+STATUS\s+AGE$/);
    assert.match(row!, new RegExp(`^\\S+\\s+app\\s+demo-reader\\s+${NODES[0]!.name}\\s+Assigned\\s+\\d+s$`));
  });

  it("marks it Failed with Resource Manager's reason when the identity does not exist", async () => {
    const ghost = {
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: "ghost" },
      spec: {
        type: 0,
        ResourceID: identityId(azure.cloud.subscriptionId, "podid-identities", "ghost"),
        ClientID: "6f1e0000-0000-4000-8000-000000000099",
      },
    };
    const binding = {
      apiVersion: API_VERSION,
      kind: "AzureIdentityBinding",
      metadata: { name: "ghost" },
      spec: { AzureIdentity: "ghost", Selector: "ghost" },
    };
    const r = await p.kubectl(["apply", "-n", ns, "-f", "-"], `${JSON.stringify(ghost)}\n${JSON.stringify(binding)}`);
    assert.equal(r.code, 0, r.stderr);
    const pod = await podFor(p, ns, "ghostly", "ghost", NODES[1]!.name);
    const failed = await assignment(p, pod, "Failed");
    assert.match(failed.status.reason ?? "", /\S/);
  });

  it("goes with its pod", async () => {
    const pod = await runningPod(p, ns, "app");
    assert.equal((await p.kubectl(["delete", "pod", "-n", ns, "app", "--wait=true", "--timeout=30s"])).code, 0);
    await slowly(async () => {
      const list = await kubeRequest<{ items: Array<{ spec: { podUID: string } }> }>(p.cp.kc, {
        path: `/apis/${API_VERSION}/namespaces/${ns}/azureassignedidentities`,
      });
      return list.items.some((a) => a.spec.podUID === pod.metadata.uid) ? undefined : true;
    }, "the pod's AzureAssignedIdentity to go");
  });
});

describe("real cluster: two reconcilers on the real Lease, the leader killed", function () {
  this.timeout(120_000);
  let p: PodidCluster;
  let azure: AzureFixture;
  const replicas: RunningProgram[] = [];

  before(async () => {
    ({ p } = await sharedPodid());
    azure = await startTestAzure();
    replicas.push(
      await p.startReconciler(azure, { name: "reconciler-a" }),
      await p.startReconciler(azure, { name: "reconciler-b" }),
    );
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await azure?.pg.stop();
  });

  it("one leads, the Lease names it; SIGKILLed, the other takes over and assigns identities", async () => {
    const leader = await slowly(async () => {
      const l = await Promise.all(replicas.map(leads));
      return l.filter(Boolean).length === 1 ? replicas[l.indexOf(true)] : undefined;
    }, "exactly one leader");
    const before = await kubeRequest<Lease>(p.cp.kc, { path: leasePath });
    assert.ok(before.spec.holderIdentity);
    const standby = replicas.find((r) => r !== leader)!;
    assert.equal(await leads(standby), false);

    process.kill(leader.pid, "SIGKILL");
    await leader.exited;
    // No release: the standby waits out the lease (15 s) by its own clock, then takes it.
    const after = await slowly(
      async () => {
        const l = await kubeRequest<Lease>(p.cp.kc, { path: leasePath });
        return l.spec.holderIdentity !== before.spec.holderIdentity ? l : undefined;
      },
      "the standby to take the Lease",
      200,
    );
    assert.equal(after.spec.leaseTransitions, (before.spec.leaseTransitions ?? 0) + 1);
    await slowly(async () => ((await leads(standby)) ? true : undefined), "the standby to lead");

    const ns = await p.namespace("lease");
    assert.equal(
      (await p.kubectl(["apply", "-n", ns, "-f", "-"], identityAndBinding(azure, "demo-writer", "writer"))).code,
      0,
    );
    const pod = await podFor(p, ns, "after-failover", "writer");
    await assignment(p, pod);
  });
});
