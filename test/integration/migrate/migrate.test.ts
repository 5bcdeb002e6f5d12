// `podid migrate` as a user runs it (the CLI, kubectl) against a real API server that holds a
// cluster's worth of AAD Pod Identity: objects written in both spellings while its CRDs were
// open (before v1.8), then its v1.8 CRDs, which hide the upper-case spelling; then podid's CRDs,
// which show it again. The report names per namespace what podid would refuse, its manifests
// fix what copies can fix, --apply creates them, and the exit status is 0 only when nothing
// would break.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { kubectlOn, privateRealCluster } from "../../helpers/real-cluster.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const AAD_CRDS = fileURLToPath(new URL("../../fixtures/aad-pod-identity/crds-v1.8.yaml", import.meta.url));
const CLIENT = "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d";
const RID =
  "/subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourcegroups/team-a-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reports-reader";

interface Report {
  breaking: number;
  namespaces: Array<{
    namespace: string;
    findings: Array<{ kind: string; breaks: boolean; subject: string; message: string; fix?: string }>;
    manifests: Array<{ kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> }>;
  }>;
  cluster: Array<{ subject: string; message: string }>;
  applied?: Array<{ object: string; result: string }>;
}

function podid(cp: ControlPlane, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [`${ROOT}bin/podid.js`, ...args, "--kubeconfig", cp.kubeconfigPath],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    ),
  );
}

/** The CRDs as AAD Pod Identity's manifests made them before v1.8: no schema to speak of, every field kept. */
const openCrd = (kind: string, plural: string): string => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.aadpodidentity.k8s.io
  annotations: { api-approved.kubernetes.io: unapproved }
spec:
  group: aadpodidentity.k8s.io
  names: { kind: ${kind}, plural: ${plural} }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;

const deployment = (ns: string, name: string, selector: string, hostNetwork = false): string =>
  JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, aadpodidbinding: selector } },
        spec: { hostNetwork, containers: [{ name: "app", image: "example.azurecr.io/app:1" }] },
      },
    },
  });

describe("podid migrate against a real API server with AAD Pod Identity's objects", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  const run = async (...args: string[]) => {
    const r = await podid(cp, ["migrate", "-o", "json", ...args]);
    assert.equal(r.stderr, "", r.stderr);
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  };
  const at = (r: Report, ns: string) => r.namespaces.find((n) => n.namespace === ns);
  const apply = async (manifest: string, ...flags: string[]) => {
    const r = await kubectlOn(cp, ["apply", ...flags, "-f", "-"], manifest);
    assert.equal(r.code, 0, r.stderr);
  };
  const waitEstablished = async () => {
    const r = await kubectlOn(cp, ["wait", "--for=condition=Established", "--timeout=30s", "crd", "--all"]);
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    cp = await privateRealCluster();
    await apply(
      [
        ["AzureIdentity", "azureidentities"],
        ["AzureIdentityBinding", "azureidentitybindings"],
        ["AzureAssignedIdentity", "azureassignedidentities"],
        ["AzurePodIdentityException", "azurepodidentityexceptions"],
      ]
        .map(([k, p]) => openCrd(k!, p!))
        .join("---\n"),
    );
    await waitEstablished();
    for (const ns of ["team-a", "team-b", "team-c"]) assert.equal((await kubectlOn(cp, ["create", "ns", ns])).code, 0);
    // team-a: the seed's spelling (upper case); team-c: v1.6+'s (lower case).
    await apply(`apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata: { name: reports-reader, namespace: team-a }
spec: { type: 0, ResourceID: ${RID}, ClientID: ${CLIENT} }
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: { name: reports-binding, namespace: team-a }
spec: { AzureIdentity: reports-reader, Selector: reports }
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata: { name: agent-id, namespace: team-c }
spec: { type: 0, resourceID: ${RID.replace("reports-reader", "agent-id")}, clientID: 6d8b0f2c-3e4a-4b5c-9d0e-1f2a3b4c5d6e }
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: { name: agent-binding, namespace: team-c }
spec: { azureIdentity: agent-id, selector: agent }
`);
    await apply(deployment("team-a", "reports", "reports"));
    await apply(deployment("team-b", "borrower", "reports")); // relied on AAD Pod Identity's cross-namespace matching
    await apply(deployment("team-c", "agent", "agent", true));
    // Upgrade to AAD Pod Identity v1.8's CRDs, as its helm chart 4.x did.
    assert.equal((await kubectlOn(cp, ["apply", "-f", AAD_CRDS])).code, 0);
    await waitEstablished();
  });
  after(async () => {
    await cp?.stop();
  });

  it("under v1.8's CRDs: the upper-case objects lose their fields, and the report says why", async () => {
    const { code, report } = await run();
    assert.equal(code, 1);
    const a = at(report, "team-a")!;
    const id = a.findings.find((f) => f.subject === "AzureIdentity/reports-reader")!;
    assert.equal(id.kind, "invalid-object");
    assert.match(
      id.message,
      /spec\.ClientID: is required.*keeps only the lower-case spellings.*kubectl apply -k config\/crd/,
    );
    assert.equal(a.findings.find((f) => f.subject === "Deployment/reports")?.kind, "unmatched");
    assert.ok(report.cluster.some((f) => /defined by AAD Pod Identity's CRDs/.test(f.message)));
    assert.ok(report.cluster.some((f) => f.subject === "AzurePodIdentityPolicy"));
  });

  describe("with podid's CRDs installed", () => {
    before(async () => {
      const r = await kubectlOn(cp, ["apply", "-k", `${ROOT}config/crd`]);
      assert.equal(r.code, 0, r.stderr);
      await waitEstablished();
    });

    it("reads both spellings and reports per namespace what podid would refuse, with the fixing copies", async () => {
      const { code, report } = await run();
      assert.equal(code, 1);
      assert.equal(at(report, "team-a"), undefined, "team-a binds its own selector: nothing to refuse");
      const b = at(report, "team-b")!;
      assert.deepEqual(
        b.findings.map((f) => [f.kind, f.subject, f.breaks]),
        [["cross-namespace", "Deployment/borrower", true]],
      );
      assert.deepEqual(
        b.manifests.map((m) => [m.kind, m.metadata.namespace, m.metadata.name, m.spec]),
        [
          ["AzureIdentity", "team-b", "reports-reader", { type: 0, ResourceID: RID, ClientID: CLIENT }],
          [
            "AzureIdentityBinding",
            "team-b",
            "reports-binding",
            { AzureIdentity: "reports-reader", Selector: "reports" },
          ],
        ],
      );
      const c = at(report, "team-c")!;
      assert.deepEqual(
        c.findings.map((f) => [f.kind, f.subject]),
        [["host-network", "Deployment/agent"]],
      );
      assert.equal(report.breaking, 2);
    });

    it("prints the manifests as YAML that kubectl accepts (server-side dry run)", async () => {
      const r = await podid(cp, ["migrate", "-o", "yaml", "-n", "team-b"]);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string });
      assert.deepEqual(
        docs.map((d) => d.kind),
        ["AzureIdentity", "AzureIdentityBinding"],
      );
      const dry = await kubectlOn(cp, ["apply", "--dry-run=server", "-f", "-"], r.stdout);
      assert.equal(dry.code, 0, dry.stderr);
      const text = await podid(cp, ["migrate", "-n", "team-b"]);
      assert.equal(text.code, 1);
      assert.match(
        text.stdout,
        /^namespace team-b\n {2}\[BREAKS\] Deployment\/borrower: label aadpodidbinding=reports: /m,
      );
      assert.match(
        text.stdout,
        /Manifests that fix the cross-namespace findings \(podid migrate --apply creates them\):\n---\n/,
      );
    });

    it("--apply creates the copies; the exit status is 0 once nothing would break", async () => {
      const applied = await run("--apply");
      assert.deepEqual(applied.report.applied, [
        { object: "azureidentities.aadpodidentity.k8s.io/team-b/reports-reader", result: "created" },
        { object: "azureidentitybindings.aadpodidentity.k8s.io/team-b/reports-binding", result: "created" },
      ]);
      assert.equal(at(applied.report, "team-b"), undefined);
      assert.equal(applied.code, 1, "team-c's hostNetwork workload still breaks");
      const copy = await kubectlOn(cp, ["get", "azureidentity", "reports-reader", "-n", "team-b", "-o", "json"]);
      const o = JSON.parse(copy.stdout) as {
        spec: Record<string, unknown>;
        metadata: { annotations: Record<string, string> };
      };
      assert.deepEqual(o.spec, { type: 0, ResourceID: RID, ClientID: CLIENT });
      assert.equal(o.metadata.annotations["aadpodidentity.k8s.io/copied-from"], "team-a/reports-reader");

      assert.equal((await kubectlOn(cp, ["delete", "deployment", "agent", "-n", "team-c"])).code, 0);
      const clean = await run();
      assert.equal(clean.code, 0, JSON.stringify(clean.report.namespaces));
      assert.equal(clean.report.breaking, 0);
    });
  });
});
