// The controller with federation, over memory caches, an in-memory Resource Manager and
// in-memory federated credentials: which credential writes, which VM or scale-set writes (none
// for federated identities), and what the AzureAssignedIdentities say at each step of a move.
import assert from "node:assert/strict";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
  TokenSourceName,
} from "../../../src/model/types.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { Controller, type ControllerOptions, type Sources } from "../../../src/reconciler/controller.ts";
import type { NamespaceInfo, NodeInfo, PodInfo } from "../../../src/reconciler/kube-objects.ts";
import {
  MemoryArm,
  MemoryCache,
  MemoryFederatedCredentials,
  MemoryIdentities,
  memoryAssignedWriter,
  metaKey,
} from "../../../src/reconciler/memory.ts";
import { createMetrics } from "../../../src/reconciler/metrics.ts";
import { memoryOwnershipStore } from "../../../src/reconciler/records.ts";
import { ArmError } from "../../../src/reconciler/vm-client.ts";

const SUB = "00000000-0000-0000-0000-0000000000aa";
const VMSS = `/subscriptions/${SUB}/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/pool1`;
const ISSUER = "https://oidc.example/cluster";
const SUBJECT = "system:serviceaccount:podid-system:podid-nmi";
const idId = (n: string): string =>
  `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`;
const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  labels: {},
  annotations: {},
});

function world(opts: Partial<ControllerOptions> & { manage?: boolean } = {}) {
  let clock = 1_000_000;
  const pods = new MemoryCache<PodInfo>((p) => p);
  const nodes = new MemoryCache<NodeInfo>((n) => n);
  const namespaces = new MemoryCache<NamespaceInfo>((n) => n);
  const identities = new MemoryCache<AzureIdentity>(metaKey);
  const bindings = new MemoryCache<AzureIdentityBinding>(metaKey);
  const assigned = new MemoryCache<AzureAssignedIdentity>(metaKey);
  const sources: Sources = {
    pods,
    nodes,
    namespaces,
    identities,
    bindings,
    exceptions: new MemoryCache<AzurePodIdentityException>(metaKey),
    policies: new MemoryCache<AzurePodIdentityPolicy>(metaKey),
    assigned,
  };
  const arm = new MemoryArm();
  arm.set(VMSS, [idId("kubelet")]);
  const armIdentities = new MemoryIdentities();
  const creds = new MemoryFederatedCredentials();
  const writer = memoryAssignedWriter(assigned);
  const wakes: number[] = [];
  nodes.put({ name: "n0", providerID: `azure://${VMSS}/virtualMachines/0` });
  const { manage = true, ...options } = opts;
  const controller = new Controller({
    sources,
    arm,
    identities: armIdentities,
    credentials: creds,
    records: memoryOwnershipStore(),
    assigned: writer,
    metrics: createMetrics(),
    log: silentLogger(),
    options: {
      graceMs: 0,
      armCacheMs: 300_000,
      invalidRetryMs: 300_000,
      now: () => clock,
      federation: { issuer: ISSUER, podidNamespace: "podid-system", manage },
      credentialRecheckMs: 1000,
      ...options,
    },
    wakeAt: (at) => void wakes.push(at),
  });
  const addIdentity = (ns: string, name: string, source?: TokenSourceName) => {
    armIdentities.set(idId(name), `c-${name}`);
    identities.put({
      metadata: meta(name, ns),
      type: 0,
      clientID: `c-${name}`,
      resourceID: idId(name),
      ...(source !== undefined ? { tokenSource: source } : {}),
    });
    bindings.put({ metadata: meta(`${name}-binding`, ns), azureIdentity: name, selector: name });
  };
  const setSource = (ns: string, name: string, source: TokenSourceName) =>
    identities.put({ ...identities.get(name, ns)!, tokenSource: source });
  const addPod = (ns: string, name: string, selector: string) =>
    pods.put({
      name,
      namespace: ns,
      uid: `uid-${name}`,
      labels: { aadpodidbinding: selector },
      serviceAccountName: "default",
      hostNetwork: false,
      nodeName: "n0",
      terminated: false,
      scheduledAt: clock,
    });
  for (let i = 0; i < 25; i++) namespaces.put({ name: `team-${i}`, labels: {} });
  return {
    controller,
    arm,
    creds,
    bindings,
    writer,
    wakes,
    addIdentity,
    setSource,
    addPod,
    status: (ns: string, name: string) => assigned.get(name, ns)?.status,
    advance: (ms: number) => (clock += ms),
    reconcile: () => controller.reconcile(),
  };
}

describe("reconciler/controller with federation", () => {
  it("a Federated identity: one credential, pods Assigned in the first reconcile, no VM or scale-set write", async () => {
    const w = world();
    w.addIdentity("team-0", "fed", "Federated");
    for (let i = 0; i < 5; i++) w.addPod("team-0", `p${i}`, "fed");
    const r = await w.reconcile();
    assert.equal(w.arm.calls.patch, 0, "no scale-set write");
    assert.equal(w.creds.calls.put, 1);
    assert.equal(r.credentialWrites, 1);
    const c = w.creds.of(idId("fed"), "podid-nmi")!;
    assert.deepEqual(
      { issuer: c.issuer, subject: c.subject, audiences: c.audiences },
      { issuer: ISSUER, subject: SUBJECT, audiences: ["api://AzureADTokenExchange"] },
    );
    assert.deepEqual(w.status("team-0", "p0-fed"), { status: "Assigned", tokenSource: "Federated", target: c.id });
    const before = { ...w.creds.calls };
    await w.reconcile();
    assert.deepEqual(w.creds.calls, before, "steady state: no credential call");
  });

  it("bound in 25 namespaces: still one credential write; unbound everywhere: one delete", async () => {
    const w = world();
    for (let i = 0; i < 25; i++) w.addIdentity(`team-${i}`, "shared", "Federated");
    await w.reconcile();
    assert.equal(w.creds.calls.put, 1);
    for (let i = 0; i < 24; i++) w.bindings.delete("shared-binding", `team-${i}`);
    await w.reconcile();
    assert.equal(w.creds.calls.delete, 0, "one binding is left");
    w.bindings.delete("shared-binding", "team-24");
    await w.reconcile();
    assert.equal(w.creds.calls.delete, 1);
    assert.equal(w.creds.of(idId("shared"), "podid-nmi"), undefined);
    await w.reconcile();
    assert.equal(w.creds.calls.delete, 1, "deleted once");
  });

  it("a credential under podid's name trusting another issuer is corrected; others are never touched", async () => {
    const w = world();
    w.creds.set(idId("fed"), "podid-nmi", { issuer: "https://old", subject: SUBJECT, audiences: ["x"] });
    w.creds.set(idId("fed"), "github", {
      issuer: "https://token.actions.githubusercontent.com",
      subject: "repo",
      audiences: ["x"],
    });
    w.addIdentity("team-0", "fed", "Federated");
    await w.reconcile();
    assert.equal(w.creds.of(idId("fed"), "podid-nmi")?.issuer, ISSUER);
    assert.equal(w.creds.of(idId("fed"), "github")?.issuer, "https://token.actions.githubusercontent.com");
  });

  it("409 from a concurrent write is retried later; meanwhile the pod is Created, then Assigned", async () => {
    const w = world();
    w.creds.failNext.push(
      new ArmError(409, "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity", "busy"),
    );
    w.addIdentity("team-0", "fed", "Federated");
    w.addPod("team-0", "p", "fed");
    const r = await w.reconcile();
    assert.equal(r.pending, 1);
    assert.deepEqual(w.status("team-0", "p-fed"), { status: "Created", tokenSource: "Federated" });
    assert.ok(w.wakes.length > 0);
    await w.reconcile();
    assert.equal(w.creds.calls.put, 1, "no retry before the backoff ends");
    w.advance(5_000);
    await w.reconcile();
    assert.equal(w.status("team-0", "p-fed")?.status, "Assigned");
  });

  it("the 20-credential limit: Failed with what to do", async () => {
    const w = world();
    w.creds.failNext.push(new ArmError(400, "FederatedIdentityCredentialsLimitExceeded", "the maximum of 20"));
    w.addIdentity("team-0", "fed", "Federated");
    w.addPod("team-0", "p", "fed");
    await w.reconcile();
    const s = w.status("team-0", "p-fed")!;
    assert.equal(s.status, "Failed");
    assert.equal(s.reason, "FederatedCredentialLimit");
    assert.match(s.message ?? "", /maximum of 20 .*Delete one/);
  });

  it("manage=false: Failed FederatedCredentialMissing naming issuer and subject, then Assigned once the admin creates it; podid never writes", async () => {
    const w = world({ manage: false });
    w.addIdentity("team-0", "fed", "Federated");
    w.addPod("team-0", "p", "fed");
    await w.reconcile();
    const s = w.status("team-0", "p-fed")!;
    assert.equal(s.reason, "FederatedCredentialMissing");
    assert.match(s.message ?? "", new RegExp(`issuer ${ISSUER}, subject ${SUBJECT}`));
    w.creds.set(idId("fed"), "podid-nmi", {
      issuer: ISSUER,
      subject: SUBJECT,
      audiences: ["api://AzureADTokenExchange"],
    });
    w.advance(1_000);
    await w.reconcile();
    assert.equal(w.status("team-0", "p-fed")?.status, "Assigned");
    w.bindings.delete("fed-binding", "team-0");
    await w.reconcile();
    assert.equal(w.creds.calls.put + w.creds.calls.delete, 0);
    assert.ok(w.creds.of(idId("fed"), "podid-nmi"), "the admin's credential stays");
  });

  it("NodeAssigned → Federated: credential first, flip, and only then the scale set loses the identity", async () => {
    const w = world();
    w.addIdentity("team-0", "id", "NodeAssigned");
    w.addPod("team-0", "p", "id");
    await w.reconcile();
    assert.equal(w.status("team-0", "p-id")?.status, "Assigned");
    assert.ok(w.arm.ids(VMSS).includes(idId("id")));
    w.setSource("team-0", "id", "Federated");
    await w.reconcile();
    assert.equal(w.status("team-0", "p-id")?.tokenSource, "Federated", "flipped once the credential exists");
    assert.ok(w.arm.ids(VMSS).includes(idId("id")), "not removed in the same pass as the flip");
    await w.reconcile();
    assert.ok(!w.arm.ids(VMSS).includes(idId("id")), "released after the flip");
    assert.equal(w.status("team-0", "p-id")?.status, "Assigned");
  });

  it("Federated → NodeAssigned: assigned on the node first, Federated until then, then the credential goes", async () => {
    const w = world();
    w.addIdentity("team-0", "id", "Federated");
    w.addPod("team-0", "p", "id");
    await w.reconcile();
    w.arm.failNext.push(new ArmError(409, "Conflict", "busy")); // the VM write does not complete at first
    w.setSource("team-0", "id", "NodeAssigned");
    await w.reconcile();
    assert.equal(w.status("team-0", "p-id")?.tokenSource, "Federated", "still Federated while the write is pending");
    assert.equal(w.creds.calls.delete, 0);
    w.advance(10_000);
    await w.reconcile();
    assert.ok(w.arm.ids(VMSS).includes(idId("id")));
    assert.equal(w.status("team-0", "p-id")?.status, "Assigned");
    assert.equal(w.status("team-0", "p-id")?.tokenSource, undefined, "NodeAssigned");
    await w.reconcile();
    assert.equal(w.creds.calls.delete, 1, "deleted once no assignment relies on it");
  });

  it("without an issuer, a Federated identity is Failed FederationNotConfigured naming the flag", async () => {
    const w = world({
      federation: undefined,
      federationUnavailable: "discovery failed: 403",
    });
    w.addIdentity("team-0", "fed", "Federated");
    w.addPod("team-0", "p", "fed");
    await w.reconcile();
    const s = w.status("team-0", "p-fed")!;
    assert.equal(s.reason, "FederationNotConfigured");
    assert.match(s.message ?? "", /discovery failed: 403.*--federation-issuer/);
    assert.equal(w.arm.calls.patch, 0);
  });
});
