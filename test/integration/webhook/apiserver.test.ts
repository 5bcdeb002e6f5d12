// podid webhook behind the playground's API server, as in a cluster: `--self-signed` makes the
// certificate and patches the caBundle of config/webhook's configurations, the API server
// calls the webhook over HTTPS, and the real kubectl prints the denials and warnings.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import { ADMISSION_MARK_ANNOTATION, NMI_MODE_ANNOTATION } from "../../../src/model/constants.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { runWebhook, type RunningWebhook } from "../../../src/webhook/main.ts";
import { SELF_SIGNED_DEFAULTS, bootstrapSelfSigned } from "../../../src/webhook/self-signed.ts";
import { SEED, seedDoc, seedDocs } from "../../fixtures/seed/index.ts";
import { kubectl, type Run } from "../../helpers/kubectl.ts";

const CONFIG = fileURLToPath(new URL("../../../config/", import.meta.url));
const POD_HOOK = "validate-pods.podid.aadpodidentity.k8s.io";
const POD_UPDATE_HOOK = "validate-pod-updates.podid.aadpodidentity.k8s.io";

const pod = (name: string, labels: Record<string, string>): string =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: { containers: [{ name: "app", image: "mcr.microsoft.com/azure-cli:2.61.0" }] },
  });

describe("podid webhook behind the API server, with kubectl", function () {
  this.timeout(90_000);
  let cluster: TestCluster;
  let hook: RunningWebhook | undefined;
  let hookPort = 0;
  let k: (args: string[], stdin?: string) => Promise<Run>;
  const dir = mkdtempSync(join(tmpdir(), "podid-webhook-it-"));

  before(async () => {
    cluster = await startTestCluster({
      simulateKubelet: false,
      webhookServiceResolver: (ns, name) =>
        ns === "podid-system" && name === "podid-webhook" ? { host: "127.0.0.1", port: hookPort } : undefined,
    });
    k = (args, stdin) => kubectl(cluster.kubeconfigPath, args, stdin);
    const setup: Array<[string[], string?]> = [
      [["apply", "-k", `${CONFIG}crd`]],
      [
        [
          "wait",
          "--for=condition=Established",
          "crd/azureidentitybindings.aadpodidentity.k8s.io",
          "crd/azurepodidentitypolicies.aadpodidentity.k8s.io",
          "--timeout=20s",
        ],
      ],
      [["create", "namespace", "podid-system"]],
      [["create", "namespace", "team-a"]],
      [["create", "namespace", "team-b"]],
      [["apply", "-f", `${CONFIG}webhook/base/webhooks.yaml`]],
    ];
    for (const [args, stdin] of setup) {
      const r = await k(args, stdin);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    const keyFile = join(dir, "keys");
    writeFileSync(keyFile, "integration-test-key-0123456789abcdef\n");
    hook = await runWebhook({
      kubeconfig: cluster.kubeconfigPath,
      host: "127.0.0.1",
      port: 0,
      selfSigned: true,
      tlsCertFile: join(dir, "tls", "tls.crt"),
      tlsKeyFile: join(dir, "tls", "tls.key"),
      admissionKeyFile: keyFile,
      namespace: "podid-system",
      serviceName: "podid-webhook",
      sidecarImage: "podid:test",
      logger: silentLogger(),
    });
    hookPort = hook.port;
    // The seed's objects in team-a (through the resources webhook), then wait for the cache. Not its
    // exception: exceptions take effect only where a cluster admin's policy allows them.
    const crs = seedDocs().filter((d) => d.kind !== "Deployment" && d.kind !== "AzurePodIdentityException");
    const seed = await k(["apply", "-n", "team-a", "-f", "-"], crs.map((d) => stringify(d)).join("---\n"));
    assert.equal(seed.code, 0, seed.stderr);
    for (let i = 0; i < 100; i++) {
      const probe = await k(
        ["create", "--dry-run=server", "-n", "team-a", "-f", "-"],
        pod("probe", { aadpodidbinding: SEED.selector }),
      );
      if (probe.code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail("the webhook's cache never saw the seed's binding");
  });
  after(async () => {
    await hook?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("patched the caBundle of both configurations (--self-signed)", async () => {
    for (const kind of [
      "mutatingwebhookconfiguration/podid-mutating",
      "validatingwebhookconfiguration/podid-validating",
    ]) {
      const r = await k(["get", kind, "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        r.stdout
          .trim()
          .split(" ")
          .every((b) => Buffer.from(b, "base64").toString().startsWith("-----BEGIN CERTIFICATE-----")),
        r.stdout,
      );
    }
    const s = await k(["get", "secret", "-n", "podid-system", "podid-webhook-self-signed", "-o", "jsonpath={.type}"]);
    assert.equal(s.stdout, "kubernetes.io/tls");
  });

  it("gives a second replica the same certificate (from the Secret)", async () => {
    const second = await bootstrapSelfSigned(cluster.kc, {
      ...SELF_SIGNED_DEFAULTS,
      namespace: "podid-system",
      dir: join(dir, "replica-2"),
    });
    assert.equal(readFileSync(second.certFile, "utf8"), readFileSync(join(dir, "tls", "tls.crt"), "utf8"));
  });

  it("denies a pod reusing another namespace's selector; kubectl prints the message", async () => {
    const r = await k(["create", "-n", "team-b", "-f", "-"], pod("borrower", { aadpodidbinding: SEED.selector }));
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `Error from server (Forbidden): error when creating "STDIN": admission webhook "${POD_HOOK}" denied the request: label aadpodidbinding=myapp: no AzureIdentityBinding with selector "myapp" exists in namespace "team-b". The selector is bound in another namespace, and podid does not let a pod use another namespace's binding (cross-namespace reuse). Create an AzureIdentity and an AzureIdentityBinding with Selector "myapp" in namespace "team-b", or remove the label.`,
    );
  });

  it("admits the seed's pod in its own namespace with the mark and env", async () => {
    const r = await k(["create", "-n", "team-a", "-f", "-"], pod("myapp", { aadpodidbinding: SEED.selector }));
    assert.equal(r.code, 0, r.stderr);
    const got = await k(["get", "pod", "myapp", "-n", "team-a", "-o", "json"]);
    const p = JSON.parse(got.stdout) as {
      metadata: { annotations: Record<string, string> };
      spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> };
    };
    assert.match(p.metadata.annotations[ADMISSION_MARK_ANNOTATION] ?? "", /^v2\./);
    assert.deepEqual(
      (
        JSON.parse(p.metadata.annotations["aadpodidentity.k8s.io/admitted-identities"] ?? "[]") as Array<{
          name: string;
        }>
      ).map((i) => i.name),
      [SEED.identityName],
    );
    assert.equal(p.metadata.annotations[NMI_MODE_ANNOTATION], "daemonset");
    assert.deepEqual(
      p.spec.containers[0]!.env.map((e) => e.name),
      ["PODID_HOST_IP", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_CLIENT_ID"],
    );
  });

  it("denies relabelling an existing pod", async () => {
    const r = await k(["label", "pod", "myapp", "-n", "team-a", "aadpodidbinding=other", "--overwrite"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^Error from server \\(Forbidden\\): admission webhook "${POD_UPDATE_HOOK}" denied the request: pod "myapp" in namespace "team-a": changing label aadpodidbinding from "myapp" to "other"`,
      ),
    );
  });

  it("denies the seed's Deployment in another namespace at apply time", async () => {
    const r = await k(["apply", "-n", "team-b", "-f", "-"], stringify(seedDoc("Deployment")));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /admission webhook "validate-workloads\.podid\.aadpodidentity\.k8s\.io" denied the request: Deployment "myapp" in namespace "team-b": pod template spec\.template: label aadpodidbinding=myapp: .*cross-namespace reuse/,
    );
  });

  it("prints Audit policy findings as warnings", async () => {
    const policy = {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzurePodIdentityPolicy",
      metadata: { name: "audit-b" },
      spec: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "team-b" } }, enforcement: "Audit" },
    };
    assert.equal((await k(["apply", "-f", "-"], JSON.stringify(policy))).code, 0);
    for (let i = 0; i < 50; i++) {
      const r = await k(
        ["create", "--dry-run=server", "-n", "team-b", "-f", "-"],
        pod("audited", { aadpodidbinding: SEED.selector }),
      );
      if (r.code === 0) {
        assert.match(
          r.stderr,
          /^Warning: audit: this would be denied: label aadpodidbinding=myapp: .*cross-namespace reuse/m,
        );
        assert.match(r.stdout, /pod\/audited created \(server dry run\)/);
        return;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail("the policy never took effect");
  });

  it("refuses an invalid AzureIdentity naming the field", async () => {
    const bad = { ...seedDoc("AzureIdentity"), spec: { type: 0, ResourceID: SEED.resourceID, ClientID: "nope" } };
    const r = await k(["apply", "-n", "team-a", "-f", "-"], JSON.stringify(bad));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /denied the request: AzureIdentity "myapp-identity" is invalid: spec\.ClientID: expected a GUID/,
    );
  });

  it("refuses an identity type the CRD's schema does not allow before the webhook sees it", async () => {
    const bad = {
      ...seedDoc("AzureIdentity"),
      metadata: { name: "typo-type" },
      spec: { ...(seedDoc("AzureIdentity").spec as object), type: 5 },
    };
    const r = await k(["apply", "-n", "team-a", "-f", "-"], JSON.stringify(bad));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^The AzureIdentity "typo-type" is invalid: spec\.type: Invalid value: 5: spec\.type in body should be less than or equal to 2$/m,
    );
    assert.doesNotMatch(r.stderr, /denied the request/);
  });
});
