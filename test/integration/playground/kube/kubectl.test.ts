// The machine's real kubectl (v1.32) against the playground API server: CRDs and the seed's
// manifests applied, Tables with printer columns, label, delete, wait, and admission webhook
// denials, warnings and failures printed exactly as a real apiserver makes kubectl print them.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { startTestCluster, type TestCluster } from "../../../helpers/cluster.ts";
import { createCertificateAuthority } from "../../../../src/shared/pki.ts";
import { startWebhook, type TestWebhook } from "./webhook-server.ts";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/playground/", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(kubeconfig: string, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      "kubectl",
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

const podYaml = (name: string, labels: Record<string, string> = {}): string =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
  });

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("playground kube API with kubectl", function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let k: (args: string[], stdin?: string) => Promise<Run>;
  const ca = createCertificateAuthority("test webhook CA");
  let hook: TestWebhook;

  before(async () => {
    cluster = await startTestCluster();
    k = (args, stdin) => kubectl(cluster.kubeconfigPath, args, stdin);
    hook = await startWebhook(ca);
  });
  after(async () => {
    await hook?.stop();
    await cluster?.stop();
  });

  it("applies CRDs, waits for Established and applies the seed's manifests", async () => {
    const crds = await k(["apply", "-f", `${FIXTURES}crds.yaml`]);
    assert.equal(crds.code, 0, crds.stderr);
    assert.match(
      crds.stdout,
      /customresourcedefinition.apiextensions.k8s.io\/azureidentities.aadpodidentity.k8s.io created/,
    );
    const wait = await k([
      "wait",
      "--for=condition=Established",
      "crd/azureidentities.aadpodidentity.k8s.io",
      "crd/azureidentitybindings.aadpodidentity.k8s.io",
      "crd/azurepodidentityexceptions.aadpodidentity.k8s.io",
      "--timeout=15s",
    ]);
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stdout, /azureidentities.aadpodidentity.k8s.io condition met/);
    const seed = await k(["apply", "-f", `${FIXTURES}seed-manifests.yaml`]);
    assert.equal(seed.code, 0, seed.stderr);
    assert.deepEqual(seed.stdout.trim().split("\n"), [
      "azurepodidentityexception.aadpodidentity.k8s.io/aad-identity-exception created",
      "azureidentity.aadpodidentity.k8s.io/myapp-identity created",
      "azureidentitybinding.aadpodidentity.k8s.io/myapp-azure-identity-binding created",
    ]);
    const again = await k(["apply", "-f", `${FIXTURES}seed-manifests.yaml`]);
    assert.match(again.stdout, /azureidentity.aadpodidentity.k8s.io\/myapp-identity unchanged/);
  });

  it("shows CRD printer columns from server-side Tables (wide-only columns with -o wide)", async () => {
    const get = await k(["get", "azureidentities"]);
    assert.equal(get.code, 0, get.stderr);
    const [header, row] = get.stdout.trim().split("\n");
    assert.deepEqual(header!.split(/\s+/), ["NAME", "TYPE", "CLIENT-ID", "AGE"]);
    assert.match(row!, /^myapp-identity\s+0\s+5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d\s+\d+s$/);
    const wide = await k(["get", "azid", "-o", "wide"]);
    assert.match(wide.stdout.split("\n")[0]!, /RESOURCE/);
    const all = await k(["get", "azureidentitybindings", "-A"]);
    assert.match(all.stdout, /^default\s+myapp-azure-identity-binding\s+myapp-identity\s+myapp\s+/m);
  });

  it("labels, reports NotFound as the real server words it, and deletes", async () => {
    const label = await k(["label", "azureidentity", "myapp-identity", "team=a"]);
    assert.equal(label.stdout.trim(), "azureidentity.aadpodidentity.k8s.io/myapp-identity labeled");
    const shown = await k(["get", "azureidentity", "-l", "team=a", "--show-labels", "--no-headers"]);
    assert.match(shown.stdout, /myapp-identity .* team=a/);
    const missing = await k(["get", "azureidentity", "nosuch"]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr.trim(),
      'Error from server (NotFound): azureidentities.aadpodidentity.k8s.io "nosuch" not found',
    );
    const del = await k(["delete", "-f", `${FIXTURES}seed-manifests.yaml`]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /azureidentity.aadpodidentity.k8s.io "myapp-identity" deleted/);
    const none = await k(["get", "azureidentities"]);
    assert.equal(none.stderr.trim(), "No resources found in default namespace.");
  });

  it("refuses CRDs in a protected group without the approval annotation, with the real message", async () => {
    const crd = (kind: string, plural: string): Record<string, unknown> => ({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${plural}.aadpodidentity.k8s.io` },
      spec: {
        group: "aadpodidentity.k8s.io",
        scope: "Namespaced",
        names: { kind, plural },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    });
    const rule =
      'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111';
    // Several objects: kubectl prints each server error as it came (the form recorded from a real server).
    const two = await k(
      ["apply", "-f", "-"],
      [crd("AzureThing", "azurethings"), crd("AzureOther", "azureothers")].map((o) => stringify(o)).join("---\n"),
    );
    assert.equal(two.code, 1);
    assert.deepEqual(two.stderr.trim().split("\n"), [
      `Error from server (Invalid): error when creating "STDIN": CustomResourceDefinition.apiextensions.k8s.io "azurethings.aadpodidentity.k8s.io" is invalid: ${rule}`,
      `Error from server (Invalid): error when creating "STDIN": CustomResourceDefinition.apiextensions.k8s.io "azureothers.aadpodidentity.k8s.io" is invalid: ${rule}`,
    ]);
    // One object: kubectl reformats an Invalid status from its details.
    const one = await k(["create", "-f", "-"], JSON.stringify(crd("AzureThing", "azurethings")));
    assert.equal(
      one.stderr.trim(),
      `The CustomResourceDefinition "azurethings.aadpodidentity.k8s.io" is invalid: ${rule}`,
    );
    // An "unapproved, ..." value is accepted; the CRD is Established and marked not conformant.
    const approved = crd("AzureThing", "azurethings");
    (approved.metadata as Record<string, unknown>).annotations = {
      "api-approved.kubernetes.io": "unapproved, testing only",
    };
    assert.equal((await k(["create", "-f", "-"], JSON.stringify(approved))).code, 0);
    await k(["wait", "--for=condition=Established", "crd/azurethings.aadpodidentity.k8s.io", "--timeout=10s"]);
    const cond = await k([
      "get",
      "crd",
      "azurethings.aadpodidentity.k8s.io",
      "-o",
      'jsonpath={.status.conditions[?(@.type=="KubernetesAPIApprovalPolicyConformant")].status}',
    ]);
    assert.equal(cond.stdout, "False");
  });

  it("creates namespaces, configmaps and service accounts sent as protobuf, and empties a deleted namespace", async () => {
    assert.equal((await k(["create", "namespace", "team-k"])).stdout.trim(), "namespace/team-k created");
    assert.equal(
      (await k(["-n", "team-k", "create", "configmap", "settings", "--from-literal=a=b"])).stdout.trim(),
      "configmap/settings created",
    );
    assert.equal(
      (await k(["-n", "team-k", "create", "serviceaccount", "app"])).stdout.trim(),
      "serviceaccount/app created",
    );
    const cms = await k(["-n", "team-k", "get", "configmaps", "-o", "name"]);
    assert.deepEqual(cms.stdout.trim().split("\n").sort(), ["configmap/kube-root-ca.crt", "configmap/settings"]);
    const del = await k(["delete", "namespace", "team-k"]);
    assert.equal(del.stdout.trim(), 'namespace "team-k" deleted');
    assert.equal(
      (await k(["get", "namespace", "team-k"])).stderr.trim(),
      'Error from server (NotFound): namespaces "team-k" not found',
    );
  });

  describe("admission webhooks", () => {
    const register = async (name: string, url: string, failurePolicy = "Fail", timeoutSeconds = 5): Promise<void> => {
      const cfg = {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingWebhookConfiguration",
        metadata: { name },
        webhooks: [
          {
            name,
            clientConfig: { url, caBundle: hook.caBundle },
            rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
            failurePolicy,
            timeoutSeconds,
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
            objectSelector: { matchLabels: { hooked: name } },
          },
        ],
      };
      const r = await k(["apply", "-f", "-"], JSON.stringify(cfg));
      assert.equal(r.code, 0, r.stderr);
    };

    it("prints a 403 denial as the real server makes kubectl print it, with warnings first", async () => {
      await register("pods.podid.example", hook.url("/validate"));
      hook.decide = () => ({
        allowed: false,
        status: { code: 403, reason: "Forbidden", message: 'pod "denied" may not use identity "x"' },
        warnings: ["identity x is deprecated"],
      });
      const r = await k(["create", "-f", "-"], podYaml("denied", { hooked: "pods.podid.example" }));
      assert.equal(r.code, 1);
      assert.deepEqual(r.stderr.trim().split("\n"), [
        "Warning: identity x is deprecated",
        'Error from server (Forbidden): error when creating "STDIN": admission webhook "pods.podid.example" denied the request: pod "denied" may not use identity "x"',
      ]);
    });

    it("words denials without code, without message and without status as the real server does", async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [
          { allowed: false, status: { message: "no" } },
          'Error from server: error when creating "STDIN": admission webhook "pods.podid.example" denied the request: no',
        ],
        [
          { allowed: false, status: { code: 403, reason: "Forbidden" } },
          'Error from server (Forbidden): error when creating "STDIN": admission webhook "pods.podid.example" denied the request: Forbidden',
        ],
        [
          { allowed: false },
          'Error from server: error when creating "STDIN": admission webhook "pods.podid.example" denied the request without explanation',
        ],
      ];
      for (const [answer, printed] of cases) {
        hook.decide = () => answer;
        const r = await k(["create", "-f", "-"], podYaml("denied2", { hooked: "pods.podid.example" }));
        assert.equal(r.stderr.trim(), printed);
      }
    });

    it("passes warnings on admitted requests and honours --dry-run=server", async () => {
      hook.reviews.length = 0;
      hook.decide = () => ({ allowed: true, warnings: ["looks fine"] });
      const dry = await k(["create", "--dry-run=server", "-f", "-"], podYaml("dry", { hooked: "pods.podid.example" }));
      assert.equal(dry.stdout.trim(), "pod/dry created (server dry run)");
      assert.equal(dry.stderr.trim(), "Warning: looks fine");
      assert.equal(hook.reviews[0]!.request.dryRun, true);
      assert.deepEqual(hook.reviews[0]!.request.options.dryRun, ["All"]);
      assert.equal((await k(["get", "pod", "dry"])).code, 1);
      const real = await k(["create", "-f", "-"], podYaml("ok", { hooked: "pods.podid.example" }));
      assert.equal(real.stdout.trim(), "pod/ok created");
      assert.equal(real.stderr.trim(), "Warning: looks fine");
    });

    it("sends kubectl label as an UPDATE with oldObject and UpdateOptions, and prints its denial", async () => {
      hook.reviews.length = 0;
      hook.decide = (r) =>
        r.request.operation === "UPDATE"
          ? { allowed: false, status: { code: 403, reason: "Forbidden", message: "label change refused" } }
          : { allowed: true };
      const r = await k(["label", "pod", "ok", "aadpodidbinding=other", "--overwrite"]);
      assert.equal(
        r.stderr.trim(),
        'Error from server (Forbidden): admission webhook "pods.podid.example" denied the request: label change refused',
      );
      const req = hook.reviews[0]!.request;
      assert.equal(req.operation, "UPDATE");
      assert.equal(req.oldObject!.metadata.name, "ok");
      assert.equal(req.object!.metadata.labels!.aadpodidbinding, "other");
      assert.equal(req.options.kind, "UpdateOptions");
      assert.equal(req.options.fieldManager, "kubectl-label");
    });

    it("prints a denied apply of an existing Deployment as kubectl prints a failed patch", async () => {
      const cfg = {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingWebhookConfiguration",
        metadata: { name: "workloads.podid.example" },
        webhooks: [
          {
            name: "workloads.podid.example",
            clientConfig: { url: hook.url("/workloads"), caBundle: hook.caBundle },
            rules: [{ operations: ["UPDATE"], apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments"] }],
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
          },
        ],
      };
      assert.equal((await k(["apply", "-f", "-"], JSON.stringify(cfg))).code, 0);
      assert.equal((await k(["create", "namespace", "team-a"])).code, 0);
      const deployment = (image: string): string =>
        stringify({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "myapp", namespace: "team-a" },
          spec: {
            selector: { matchLabels: { app: "myapp" } },
            template: {
              metadata: { labels: { app: "myapp", aadpodidbinding: "myapp" } },
              spec: { containers: [{ name: "app", image }] },
            },
          },
        });
      hook.decide = () => ({
        allowed: false,
        status: { code: 403, reason: "Forbidden", message: "binding myapp is not allowed in team-a" },
      });
      assert.equal(
        (await k(["apply", "-f", "-"], deployment("nginx:1.26"))).stdout.trim(),
        "deployment.apps/myapp created",
      );
      const r = await k(["apply", "-f", "-"], deployment("nginx:1.27"));
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines[0], "Error from server (Forbidden): error when applying patch:");
      assert.ok(
        lines.includes('Resource: "apps/v1, Resource=deployments", GroupVersionKind: "apps/v1, Kind=Deployment"'),
        r.stderr,
      );
      assert.ok(lines.includes('Name: "myapp", Namespace: "team-a"'), r.stderr);
      assert.equal(
        lines[lines.length - 1],
        'for: "STDIN": error when patching "STDIN": admission webhook "workloads.podid.example" denied the request: binding myapp is not allowed in team-a',
      );
      // The Deployment's pods were created by the controller through pod webhooks with generateName.
      let pods = "";
      for (let i = 0; i < 20 && pods === ""; i++)
        pods = (await k(["-n", "team-a", "get", "pods", "-l", "app=myapp", "-o", "name"])).stdout.trim();
      assert.match(pods, /^pod\/myapp-[a-z0-9]+-[a-z0-9]{5}$/);
      // kubectl scale writes deployments/scale, which a rule for "deployments" does not match.
      const scaled = await k(["-n", "team-a", "scale", "deployment", "myapp", "--replicas=2"]);
      assert.equal(scaled.stdout.trim(), "deployment.apps/myapp scaled", scaled.stderr);
      const rollout = await k(["-n", "team-a", "rollout", "status", "deployment", "myapp", "--timeout=15s"]);
      assert.match(rollout.stdout, /deployment "myapp" successfully rolled out/);
    });

    it("fails with the real `failed calling webhook` error when the webhook is unreachable", async () => {
      const port = await closedPort();
      await register("down.podid.example", `https://127.0.0.1:${port}/validate`);
      const r = await k(["create", "-f", "-"], podYaml("unreachable", { hooked: "down.podid.example" }));
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "down.podid.example": failed to call webhook: Post "https://127.0.0.1:${port}/validate?timeout=5s": dial tcp 127.0.0.1:${port}: connect: connection refused`,
      );
      await register("ignored.podid.example", `https://127.0.0.1:${port}/validate`, "Ignore");
      const ignored = await k(["create", "-f", "-"], podYaml("ignored", { hooked: "ignored.podid.example" }));
      assert.equal(ignored.stdout.trim(), "pod/ignored created");
    });
  });
});
