// podid migrate's decisions over plain objects (AAD Pod Identity's spellings, lower and upper
// case): what podid would refuse per namespace, which findings break, and which copies fix
// them, re-decided with the copies so a policy that forbids the identity is reported instead.
import assert from "node:assert/strict";
import type { Obj } from "../../../src/model/read.ts";
import type { CrdInfo, MigrateInput } from "../../../src/migrate/gather.ts";
import { planMigration, type MigrationReport } from "../../../src/migrate/plan.ts";
import { renderReport } from "../../../src/migrate/render.ts";

const CLIENT = "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d";
const RID = `/subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourcegroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader`;
const obj = (kind: string, ns: string | undefined, name: string, spec: Obj, extra: Obj = {}): Obj => ({
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind,
  metadata: { name, ...(ns !== undefined ? { namespace: ns } : {}), ...extra },
  spec,
});
const identity = (ns: string, name = "reader", spec: Obj = { type: 0, resourceID: RID, clientID: CLIENT }) =>
  obj("AzureIdentity", ns, name, spec);
const binding = (ns: string, selector: string, name = `${selector}-binding`, id = "reader") =>
  obj("AzureIdentityBinding", ns, name, { azureIdentity: id, selector });
const deployment = (ns: string, name: string, labels: Obj, podSpec: Obj = {}): Obj => ({
  kind: "Deployment",
  metadata: { name, namespace: ns },
  spec: { template: { metadata: { labels }, spec: { containers: [{ name: "app", image: "x" }], ...podSpec } } },
});
const crd = (kind: CrdInfo["kind"], o: Partial<CrdInfo> = {}): CrdInfo => ({
  kind,
  installed: true,
  aadPodIdentity: true,
  keepsOtherSpellings: false,
  ...o,
});

function input(
  o: Partial<Omit<MigrateInput, "objects">> & { objects?: Partial<MigrateInput["objects"]> },
): MigrateInput {
  return {
    namespaces: o.namespaces ?? [
      { name: "team-a", labels: { team: "a" } },
      { name: "team-b", labels: { team: "b" } },
    ],
    crds: o.crds ?? [
      crd("AzureIdentity"),
      crd("AzureIdentityBinding"),
      crd("AzureAssignedIdentity"),
      crd("AzurePodIdentityException"),
    ],
    objects: {
      AzureIdentity: [],
      AzureIdentityBinding: [],
      AzureAssignedIdentity: [],
      AzurePodIdentityException: [],
      AzurePodIdentityPolicy: [],
      ...o.objects,
    },
    workloads: o.workloads ?? [],
    pods: o.pods ?? [],
  };
}
const ns = (r: MigrationReport, name: string) => r.namespaces.find((n) => n.namespace === name);

describe("podid migrate: the plan", () => {
  it("finds nothing to refuse in a namespaced setup, and exits clean", () => {
    const r = planMigration(
      input({
        objects: { AzureIdentity: [identity("team-a")], AzureIdentityBinding: [binding("team-a", "app")] },
        workloads: [deployment("team-a", "app", { aadpodidbinding: "app" })],
      }),
    );
    assert.equal(r.breaking, 0);
    assert.deepEqual(r.namespaces, []);
    assert.match(renderReport(r), /^podid migrate: nothing podid would refuse\./);
  });

  it("reports a selector bound only in another namespace and writes the copies, spelled as the originals", () => {
    const upper = identity("team-a", "reader", { type: 0, ResourceID: RID, ClientID: CLIENT });
    const r = planMigration(
      input({
        objects: {
          AzureIdentity: [upper],
          AzureIdentityBinding: [
            obj("AzureIdentityBinding", "team-a", "app-binding", { AzureIdentity: "reader", Selector: "app" }),
          ],
        },
        workloads: [deployment("team-b", "borrower", { aadpodidbinding: "app" })],
      }),
    );
    assert.equal(r.breaking, 1);
    const b = ns(r, "team-b")!;
    assert.equal(b.findings[0]!.kind, "cross-namespace");
    assert.equal(b.findings[0]!.subject, "Deployment/borrower");
    assert.match(b.findings[0]!.message, /is bound in another namespace/);
    assert.match(
      b.findings[0]!.fix!,
      /copy AzureIdentity "reader", AzureIdentityBinding "app-binding" from team-a\/reader, team-a\/app-binding into "team-b"/,
    );
    assert.deepEqual(
      b.manifests.map((m) => [m.kind, (m.metadata as Obj).namespace, (m.metadata as Obj).annotations, m.spec]),
      [
        ["AzureIdentity", "team-b", { "aadpodidentity.k8s.io/copied-from": "team-a/reader" }, upper.spec],
        [
          "AzureIdentityBinding",
          "team-b",
          { "aadpodidentity.k8s.io/copied-from": "team-a/app-binding" },
          { AzureIdentity: "reader", Selector: "app" },
        ],
      ],
    );
    assert.match(
      renderReport(r),
      /Manifests that fix[\s\S]*---\napiVersion: aadpodidentity.k8s.io\/v1\nkind: AzureIdentity\n/,
    );
  });

  it("offers no copy a namespace policy would refuse: the denial is reported as not allowed", () => {
    const policy = obj("AzurePodIdentityPolicy", undefined, "team-b-only", {
      namespaceSelector: { matchLabels: { team: "b" } },
      allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/team-b/*" }],
    });
    const r = planMigration(
      input({
        objects: {
          AzureIdentity: [identity("team-a")],
          AzureIdentityBinding: [binding("team-a", "app")],
          AzurePodIdentityPolicy: [policy],
        },
        workloads: [deployment("team-b", "borrower", { aadpodidbinding: "app" })],
      }),
    );
    const b = ns(r, "team-b")!;
    assert.deepEqual(b.manifests, []);
    assert.equal(b.findings[0]!.kind, "not-allowed");
    assert.match(b.findings[0]!.message, /not allowed in this namespace by AzurePodIdentityPolicy "team-b-only"/);
  });

  it("copies an identity a binding names from another namespace (AAD Pod Identity's lookup by name)", () => {
    const r = planMigration(
      input({
        objects: { AzureIdentity: [identity("team-a")], AzureIdentityBinding: [binding("team-b", "app")] },
        pods: [
          {
            kind: "Pod",
            metadata: { name: "solo", namespace: "team-b", labels: { aadpodidbinding: "app" } },
            spec: {},
          },
        ],
      }),
    );
    const b = ns(r, "team-b")!;
    assert.equal(b.findings.find((f) => f.subject === "Pod/solo")?.kind, "missing-identity");
    assert.deepEqual(
      b.manifests.map((m) => m.kind),
      ["AzureIdentity"],
    );
  });

  it("reports hostNetwork pods, excluded namespaces and unmatched labels as breaking, without manifests", () => {
    const r = planMigration(
      input({
        namespaces: [
          { name: "team-a", labels: {} },
          { name: "kube-system", labels: {} },
        ],
        objects: { AzureIdentity: [identity("team-a")], AzureIdentityBinding: [binding("team-a", "app")] },
        workloads: [
          deployment("team-a", "agent", { aadpodidbinding: "app" }, { hostNetwork: true }),
          deployment("team-a", "typo", { aadpodidbinding: "ap" }),
          deployment("kube-system", "addon", { aadpodidbinding: "app" }),
        ],
      }),
    );
    assert.equal(r.breaking, 3);
    assert.deepEqual(
      ns(r, "team-a")!.findings.map((f) => [f.subject, f.kind, f.breaks]),
      [
        ["Deployment/agent", "host-network", true],
        ["Deployment/typo", "unmatched", true],
      ],
    );
    assert.equal(ns(r, "kube-system")!.findings[0]!.kind, "excluded-namespace");
    assert.ok(r.namespaces.every((n) => n.manifests.length === 0));
  });

  it("checks workloads once: not the ReplicaSets and pods they make, but pods made by nothing", () => {
    const owned = { ownerReferences: [{ kind: "ReplicaSet", name: "x", controller: true }] };
    const r = planMigration(
      input({
        workloads: [
          { ...deployment("team-a", "typo", { aadpodidbinding: "ap" }) },
          {
            ...deployment("team-a", "rs", { aadpodidbinding: "ap" }),
            kind: "ReplicaSet",
            metadata: {
              name: "rs",
              namespace: "team-a",
              ownerReferences: [{ kind: "Deployment", name: "typo", controller: true }],
            },
          },
        ],
        pods: [
          {
            kind: "Pod",
            metadata: { name: "typo-1", namespace: "team-a", labels: { aadpodidbinding: "ap" }, ...owned },
            spec: {},
          },
        ],
      }),
    );
    const subjects = ns(r, "team-a")!.findings.map((f) => f.subject);
    assert.deepEqual(subjects, ["Deployment/typo", "1 pod"]);
    assert.equal(ns(r, "team-a")!.findings[1]!.kind, "restart");
    assert.equal(ns(r, "team-a")!.findings[1]!.breaks, false);
  });

  it("explains objects the parsers refuse, and that v1.8's CRDs hide the other spelling", () => {
    const r = planMigration(
      input({
        objects: {
          AzureIdentity: [identity("team-a", "pruned", { type: 0 })],
          AzurePodIdentityException: [obj("AzurePodIdentityException", "team-a", "all", { podLabels: {} })],
        },
      }),
    );
    const [pruned, exception] = ns(r, "team-a")!.findings;
    assert.equal(pruned!.subject, "AzureIdentity/pruned");
    assert.equal(pruned!.breaks, false);
    assert.match(
      pruned!.message,
      /spec\.ClientID: is required.*AAD Pod Identity v1\.8's\) keeps only the lower-case spellings.*kubectl apply -k config\/crd/,
    );
    assert.equal(exception!.breaks, true, "pods the exception covered lose their IMDS pass-through");
    assert.deepEqual(
      r.cluster.map((f) => f.subject),
      ["CustomResourceDefinitions", "AzurePodIdentityPolicy"],
    );
  });
});
