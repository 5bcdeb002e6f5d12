import assert from "node:assert/strict";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../../../src/model/types.ts";
import {
  assignedIdentityName,
  assignedIdentityObject,
  assignmentStatus,
  desiredAssignments,
  desiredState,
  desiredTargets,
  diffAssigned,
  type DesiredAssignment,
  type DesiredInput,
  type NodeTarget,
} from "../../../src/reconciler/desired.ts";
import type { IdentityCheck } from "../../../src/reconciler/identity-reader.ts";
import { markIdentity } from "../../../src/policy/index.ts";
import type { PodInfo } from "../../../src/reconciler/kube-objects.ts";
import { identityKey, targetFromId } from "../../../src/reconciler/target.ts";

const idId = (n: string): string =>
  `/subscriptions/s/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`;
const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  labels: {},
  annotations: {},
});
const identity = (ns: string, name: string, type: 0 | 1 = 0): AzureIdentity => ({
  metadata: meta(name, ns),
  type,
  clientID: `c-${name}`,
  ...(type === 0 ? { resourceID: idId(name) } : { tenantID: "t" }),
});
const binding = (ns: string, idName: string, selector = idName): AzureIdentityBinding => ({
  metadata: meta(`${idName}-b`, ns),
  azureIdentity: idName,
  selector,
});
const pod = (ns: string, name: string, labels: Record<string, string>, over: Partial<PodInfo> = {}): PodInfo => ({
  name,
  namespace: ns,
  uid: `uid-${name}`,
  labels,
  serviceAccountName: "default",
  hostNetwork: false,
  nodeName: "n0",
  terminated: false,
  ...over,
});
const policy = (over: Partial<AzurePodIdentityPolicy>): AzurePodIdentityPolicy => ({
  metadata: meta("p"),
  namespaceSelector: { matchLabels: { tier: "prod" } },
  onUnmatchedLabel: "Deny",
  enforcement: "Enforce",
  unlistedIdentities: "Allow",
  ...over,
});

describe("reconciler/desired: which pods get which identities", () => {
  const base: DesiredInput = {
    pods: [],
    bindings: [binding("a", "reader"), binding("b", "writer")],
    identities: [identity("a", "reader"), identity("b", "writer")],
    exceptions: [],
    policies: [],
    namespaces: [
      { name: "a", labels: {} },
      { name: "b", labels: { tier: "prod" } },
    ],
  };
  const exception: AzurePodIdentityException = { metadata: meta("ex", "a"), podLabels: { noaad: "true" } };
  const allowExceptions = policy({ namespaceSelector: {}, exceptions: "Allow" });
  const cases: Array<{ name: string; input: Partial<DesiredInput>; expect: string[] }> = [
    {
      name: "labelled, scheduled pod with a binding in its namespace",
      input: { pods: [pod("a", "p", { aadpodidbinding: "reader" })] },
      expect: ["a/p-reader"],
    },
    { name: "no label", input: { pods: [pod("a", "p", {})] }, expect: [] },
    {
      name: "not scheduled yet",
      input: { pods: [pod("a", "p", { aadpodidbinding: "reader" }, { nodeName: undefined })] },
      expect: [],
    },
    {
      name: "finished (Succeeded or Failed)",
      input: { pods: [pod("a", "p", { aadpodidbinding: "reader" }, { terminated: true })] },
      expect: [],
    },
    {
      name: "selector bound only in another namespace: denied, nothing",
      input: { pods: [pod("a", "p", { aadpodidbinding: "writer" })] },
      expect: [],
    },
    {
      name: "host network: denied, nothing",
      input: { pods: [pod("a", "p", { aadpodidbinding: "reader" }, { hostNetwork: true })] },
      expect: [],
    },
    {
      name: "excepted pod where exceptions are allowed: nothing",
      input: {
        exceptions: [exception],
        policies: [allowExceptions],
        pods: [pod("a", "p", { aadpodidbinding: "reader", noaad: "true" })],
      },
      expect: [],
    },
    {
      name: "an exception the namespace may not have changes nothing",
      input: { exceptions: [exception], pods: [pod("a", "p", { aadpodidbinding: "reader", noaad: "true" })] },
      expect: ["a/p-reader"],
    },
    {
      name: "exception decides per pod, not per selector",
      input: {
        exceptions: [exception],
        policies: [allowExceptions],
        pods: [
          pod("a", "p1", { aadpodidbinding: "reader", noaad: "true" }),
          pod("a", "p2", { aadpodidbinding: "reader" }),
        ],
      },
      expect: ["a/p2-reader"],
    },
    {
      name: "identity not allowed by an enforced namespace policy: nothing",
      input: {
        policies: [policy({ allowedIdentities: [{ clientID: "c-other" }] })],
        pods: [pod("b", "p", { aadpodidbinding: "writer" })],
      },
      expect: [],
    },
    {
      name: "same policy in Audit: assigned",
      input: {
        policies: [policy({ allowedIdentities: [{ clientID: "c-other" }], enforcement: "Audit" })],
        pods: [pod("b", "p", { aadpodidbinding: "writer" })],
      },
      expect: ["b/p-writer"],
    },
    {
      name: "two bindings for one selector: both identities",
      input: {
        bindings: [binding("a", "reader"), binding("a", "writer", "reader")],
        identities: [identity("a", "reader"), identity("a", "writer")],
        pods: [pod("a", "p", { aadpodidbinding: "reader" })],
      },
      expect: ["a/p-reader", "a/p-writer"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = desiredAssignments({ ...base, ...c.input }).map((a) => `${a.namespace}/${a.name}`);
      assert.deepEqual(got.sort(), c.expect);
    });
  }

  it("a running pod keeps the identities it was admitted with; one bound later is reported, not assigned", () => {
    const reader = identity("a", "reader");
    const input: DesiredInput = {
      ...base,
      bindings: [binding("a", "reader"), binding("a", "writer", "reader")],
      identities: [reader, identity("a", "writer")],
      pods: [pod("a", "p", { aadpodidbinding: "reader" }, { admitted: [markIdentity(reader)] })],
    };
    const state = desiredState(input);
    assert.deepEqual(
      state.assignments.map((x) => x.name),
      ["p-reader"],
    );
    assert.deepEqual(
      state.notAdmitted.map((n) => [n.pod.name, n.identities.map((i) => i.metadata.name)]),
      [["p", ["writer"]]],
    );
    // Unbinding the admitted identity leaves nothing, never the newer one.
    const unbound = desiredState({ ...input, bindings: [binding("a", "writer", "reader")] });
    assert.deepEqual([unbound.assignments, unbound.notAdmitted.length], [[], 1]);
  });

  it("attack: an AzureIdentity edited after admission (ClientID changed) is not assigned for the running pod", () => {
    const reader = identity("a", "reader");
    const state = desiredState({
      ...base,
      identities: [{ ...reader, clientID: "c-someone-else" }, identity("a", "writer")],
      pods: [pod("a", "p", { aadpodidbinding: "reader" }, { admitted: [markIdentity(reader)] })],
    });
    assert.deepEqual(state.assignments, []);
  });

  it("ambiguous names (pod a-b with c, pod a with b-c) get distinct, order-independent names", () => {
    const input: DesiredInput = {
      ...base,
      bindings: [binding("a", "c"), binding("a", "b-c")],
      identities: [identity("a", "c"), identity("a", "b-c")],
      pods: [pod("a", "a-b", { aadpodidbinding: "c" }), pod("a", "a", { aadpodidbinding: "b-c" })],
    };
    const names = desiredAssignments(input).map((x) => x.name);
    assert.equal(new Set(names).size, 2);
    assert.ok(names.every((n) => /^a-b-c-[0-9a-f]{10}$/.test(n)));
    assert.deepEqual(
      desiredAssignments({ ...input, pods: [...input.pods].reverse() })
        .map((x) => x.name)
        .sort(),
      [...names].sort(),
    );
  });

  it("names are <pod>-<identity>, shortened with a hash beyond 253 characters", () => {
    assert.equal(assignedIdentityName("web-0", "reader"), "web-0-reader");
    const long = assignedIdentityName("p".repeat(200), "i".repeat(100));
    assert.equal(long.length, 253);
    assert.match(long, /-[0-9a-f]{10}$/);
    assert.notEqual(long, assignedIdentityName("p".repeat(200), "i".repeat(99) + "j"));
  });
});

describe("reconciler/desired: targets and statuses", () => {
  const vmss = targetFromId(
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss",
  )!;
  const vm = targetFromId("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm")!;
  const nodes = new Map<string, NodeTarget>([
    ["n0", { ok: true, target: vmss }],
    ["n1", { ok: true, target: vmss }],
    ["n2", { ok: true, target: vm }],
    ["kind", { ok: false, error: "not an Azure VM" }],
  ]);
  const a = (podName: string, node: string, id: AzureIdentity): DesiredAssignment => ({
    name: `${podName}-${id.metadata.name}`,
    namespace: "a",
    pod: { ...pod("a", podName, { aadpodidbinding: id.metadata.name }), nodeName: node },
    identity: id,
    binding: binding("a", id.metadata.name),
  });

  it("groups identities per scale set or VM; service principals and nodes outside Azure need none", () => {
    const needs = desiredTargets(
      [
        a("p0", "n0", identity("a", "reader")),
        a("p1", "n1", identity("a", "reader")),
        a("p2", "n1", identity("a", "Writer")),
        a("p3", "n2", identity("a", "sp", 1)),
        a("p4", "kind", identity("a", "x")),
      ],
      nodes,
    );
    assert.deepEqual([...needs.keys()], [vmss.key]);
    assert.deepEqual(
      [...needs.get(vmss.key)!.identities.keys()].sort(),
      [identityKey(idId("reader")), identityKey(idId("Writer"))].sort(),
    );
  });

  const rejected = new Map([[identityKey(idId("bad")), "Resource was not found"]]);
  type StatusCase = {
    name: string;
    a: DesiredAssignment;
    on: Set<string> | undefined;
    check?: IdentityCheck | undefined;
    expect: Record<string, unknown>;
  };
  const verified = (a: DesiredAssignment): IdentityCheck => ({ kind: "ok", clientId: a.identity.clientID });
  const spoofed = a("p", "n0", { ...identity("b", "mine"), clientID: "c-reader" });
  const statusCases: StatusCase[] = [
    {
      name: "attack: a ClientID that is another identity's: Failed ClientIDMismatch, naming both values",
      a: spoofed,
      on: new Set([identityKey(idId("mine"))]),
      check: { kind: "ok", clientId: "c-mine" },
      expect: {
        status: "Failed",
        reason: "ClientIDMismatch",
        message:
          `AzureIdentity b/mine says ClientID c-reader, but Resource Manager says identity ${idId("mine")} ` +
          `has client ID c-mine; podid serves an identity only by the resource ID it names. Set spec.ClientID ` +
          `to c-mine.`,
      },
    },
    {
      name: "ClientID not read from Resource Manager yet: Created, not Assigned even if on the target",
      a: a("p", "n0", identity("a", "reader")),
      on: new Set([identityKey(idId("reader"))]),
      check: undefined,
      expect: { status: "Created" },
    },
    {
      name: "no such identity in Resource Manager: Failed IdentityNotFound",
      a: a("p", "n0", identity("a", "reader")),
      on: undefined,
      check: { kind: "not-found", message: "The Resource was not found" },
      expect: {
        status: "Failed",
        reason: "IdentityNotFound",
        message: `AzureIdentity a/reader: Resource Manager has no identity ${idId("reader")} (The Resource was not found)`,
      },
    },
    {
      name: "identity not readable: Failed IdentityNotReadable, naming the permission",
      a: a("p", "n0", identity("a", "reader")),
      on: undefined,
      check: { kind: "unreadable", message: "AuthorizationFailed" },
      expect: {
        status: "Failed",
        reason: "IdentityNotReadable",
        message:
          `AzureIdentity a/reader: cannot read identity ${idId("reader")} from Resource Manager to check ` +
          `its ClientID (AuthorizationFailed); the reconciler needs Microsoft.ManagedIdentity/userAssignedIdentities/read ` +
          `on it`,
      },
    },
    {
      name: "on the target: Assigned with the target",
      a: a("p", "n0", identity("a", "reader")),
      on: new Set([identityKey(idId("reader"))]),
      expect: { status: "Assigned", target: vmss.id },
    },
    {
      name: "not there yet: Created",
      a: a("p", "n0", identity("a", "reader")),
      on: new Set<string>(),
      expect: { status: "Created", target: vmss.id },
    },
    {
      name: "target not read yet: Created",
      a: a("p", "n0", identity("a", "reader")),
      on: undefined,
      expect: { status: "Created", target: vmss.id },
    },
    {
      name: "refused: Failed InvalidIdentity",
      a: a("p", "n0", identity("a", "bad")),
      on: new Set<string>(),
      expect: { status: "Failed", reason: "InvalidIdentity", message: "Resource was not found", target: vmss.id },
    },
    {
      name: "node outside Azure: Failed NodeNotOnAzure",
      a: a("p", "kind", identity("a", "reader")),
      on: undefined,
      expect: { status: "Failed", reason: "NodeNotOnAzure", message: "node kind: not an Azure VM" },
    },
    {
      name: "service principal: Assigned at once",
      a: a("p", "n0", identity("a", "sp", 1)),
      on: undefined,
      expect: { status: "Assigned" },
    },
  ];
  for (const c of statusCases) {
    it(`status: ${c.name}`, () => {
      const identityCheck = "check" in c ? c.check : verified(c.a);
      assert.deepEqual(
        assignmentStatus(c.a, { nodeTarget: nodes.get(c.a.pod.nodeName), onTarget: c.on, rejected, identityCheck }),
        c.expect,
      );
    });
  }

  it("diff: create missing, update changed status, replace a new pod under the same name, delete the rest", () => {
    const keep = a("keep", "n0", identity("a", "reader"));
    const status = a("status", "n0", identity("a", "reader"));
    const create = a("create", "n0", identity("a", "reader"));
    const replaced = a("replaced", "n0", identity("a", "reader"));
    const asActual = (d: DesiredAssignment, st: string, uid?: string): AzureAssignedIdentity => {
      const o = assignedIdentityObject(d, { status: st as "Assigned" }) as unknown as AzureAssignedIdentity;
      return { ...o, metadata: meta(d.name, "a"), spec: { ...o.spec, podUID: uid ?? o.spec.podUID } };
    };
    const gone = asActual(a("gone", "n0", identity("a", "reader")), "Assigned");
    const diff = diffAssigned(
      [keep, status, create, replaced].map((d) => ({ a: d, status: { status: "Assigned" as const } })),
      [asActual(keep, "Assigned"), asActual(status, "Created"), asActual(replaced, "Assigned", "old-uid"), gone],
    );
    assert.deepEqual(
      diff.create.map((d) => d.a.name),
      ["create-reader"],
    );
    assert.deepEqual(
      diff.status.map((d) => d.a.name),
      ["status-reader"],
    );
    assert.deepEqual(
      diff.replace.map((d) => d.a.name),
      ["replaced-reader"],
    );
    assert.deepEqual(
      diff.delete.map((d) => d.metadata.name),
      ["gone-reader"],
    );
  });

  it("the AzureAssignedIdentity is owned by its pod", () => {
    const o = assignedIdentityObject(a("p", "n0", identity("a", "reader")), { status: "Created" }) as {
      metadata: { ownerReferences: Array<{ kind: string; uid: string }> };
    };
    assert.deepEqual(
      o.metadata.ownerReferences.map((r) => [r.kind, r.uid]),
      [["Pod", "uid-p"]],
    );
  });
});
