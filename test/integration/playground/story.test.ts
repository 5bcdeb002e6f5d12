// The seed's story as an automated test: the full playground (Kubernetes API and Azure
// stand-ins, Azurite, podid installed from config/default, the three programs as processes)
// and every step's outcome checked, not only that it ran.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diagnose } from "../../../src/doctor/diagnose.ts";
import { gatherDoctorInput } from "../../../src/doctor/gather.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { loadAdmissionKeys } from "../../../src/policy/index.ts";
import { messages } from "../../../src/policy/messages.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { renderKustomization, type KObj } from "../../../src/playground/install.ts";
import { startStack, type Stack } from "../../../src/playground/stack.ts";
import { runStory, STORY, storySucceeded, type StepResult } from "../../../src/playground/story/story.ts";

/** Every field of `want` is in `got` with the same value (arrays element by element). */
function assertSubset(got: unknown, want: unknown, path: string): void {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got) && got.length === want.length, `${path}: expected ${want.length} items`);
    want.forEach((w, i) => assertSubset((got as unknown[])[i], w, `${path}[${i}]`));
  } else if (typeof want === "object" && want !== null) {
    assert.ok(typeof got === "object" && got !== null, `${path}: expected an object`);
    for (const [k, v] of Object.entries(want)) assertSubset((got as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.equal(got, want, path);
  }
}

describe("the playground story (seed walkthrough, end to end)", function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), "podid-story-"));
  let stack: Stack;
  let results: StepResult[];
  const lines: string[] = [];

  before(async () => {
    stack = await startStack({ stateDir: dir, logger: silentLogger() });
    results = await runStory(stack, (l) => lines.push(l));
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const step = (n: number): StepResult => {
    const r = results[n - 1];
    assert.ok(r, `step ${n} did not run:\n${lines.join("\n")}`);
    assert.ok(r.ok, `step ${n} failed: ${r.detail}\n${lines.join("\n")}`);
    return r;
  };

  it("runs every step successfully", () => {
    assert.ok(storySucceeded(results), lines.join("\n"));
  });

  it("applies the seed's identity and binding unchanged, as kubectl reports", () => {
    assert.match(
      step(2).detail,
      /azureidentity\.aadpodidentity\.k8s\.io\/demo-reader created; azureidentitybinding\.aadpodidentity\.k8s\.io\/myapp-azure-identity-binding created/,
    );
  });

  it("assigns the identity on the node's scale set in Resource Manager, with one write", () => {
    assert.match(step(4).detail, /demo-reader is Assigned; Resource Manager shows it on virtualMachineScaleSets\//);
    // Step 4's scale-set write is the story's only compute write; step 8 federates (one credential PUT).
    assert.equal(stack.azure.calls.computeWrites(), 1);
    assert.equal(stack.azure.calls.armWrites({ resource: "federatedIdentityCredentials" }), 1);
  });

  it("lets the application read the blob's content with ManagedIdentityCredential", () => {
    assert.equal(step(5).detail, `it read "${STORY.content.trim()}"`);
  });

  it("rejects the other team's copied label with the webhook's exact message, as kubectl prints it", () => {
    const expected = `Error from server (Forbidden): error when creating "STDIN": admission webhook "validate-pods.podid.aadpodidentity.k8s.io" denied the request: ${messages.crossNamespace(STORY.selector, STORY.teamB)}`;
    assert.equal(step(6).detail, `kubectl printed: ${expected}`);
  });

  it("refuses a token to a pod that bypassed admission with a copied mark", () => {
    assert.equal(
      step(7).detail,
      "the NMI refused it: the admission mark does not match the pod's namespace, service account, selector and identities",
    );
  });

  it("installs every object of config/default the playground serves (none is a custom resource of its own CRDs)", () => {
    const skippedKinds = new Set(stack.install.skipped.map((x) => x.kind));
    for (const k of skippedKinds)
      assert.ok(
        [
          "Deployment",
          "DaemonSet",
          "Issuer",
          "Certificate",
          "Role",
          "RoleBinding",
          "ClusterRole",
          "ClusterRoleBinding",
          "PodDisruptionBudget",
        ].includes(k),
        `skipped ${k}`,
      );
    // One `kubectl apply -k config/default` must work on a fresh cluster: kubectl maps every kind first.
    assert.deepEqual(
      stack.install.apply.filter((o) => o.apiVersion.startsWith("aadpodidentity.k8s.io/")).map((o) => o.kind),
      [],
    );
    assert.equal(stack.install.apply.filter((o) => o.kind === "CustomResourceDefinition").length, 5);
  });

  it("registers the webhook configurations from config/ (only the caBundle filled in)", async () => {
    const rendered = (await renderKustomization()).filter((o) => /WebhookConfiguration$/.test(o.kind));
    assert.equal(rendered.length, 2);
    const strip = (o: KObj): unknown =>
      (o.webhooks as Array<Record<string, unknown> & { clientConfig: Record<string, unknown> }>).map((h) => {
        const { caBundle: _ca, ...clientConfig } = h.clientConfig;
        return { ...h, clientConfig };
      });
    for (const r of rendered) {
      const plural =
        r.kind === "MutatingWebhookConfiguration" ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations";
      const live = await kubeRequest<KObj>(stack.kc, {
        path: `/apis/admissionregistration.k8s.io/v1/${plural}/${r.metadata.name}`,
      });
      // The server adds its defaults (matchPolicy, timeoutSeconds...); everything config/ says must be there as said.
      assertSubset(strip(live), strip(r), `${r.kind} ${r.metadata.name}`);
    }
  });

  it("podid doctor explains both pods from the live cluster: the admitted one gets a token, the sneaky one does not", async () => {
    const keys = loadAdmissionKeys(stack.files.admissionKey);
    const pods = await kubeRequest<{ items: Array<{ metadata: { name: string } }> }>(stack.kc, {
      path: `/api/v1/namespaces/${STORY.teamA}/pods`,
    });
    const admitted = diagnose(await gatherDoctorInput(stack.kc, STORY.teamA, pods.items[0]!.metadata.name, keys));
    assert.equal(admitted.getsToken, true, JSON.stringify(admitted.findings, null, 2));
    assert.match(admitted.verdict, /gets tokens for "demo-reader"/);
    assert.ok(
      admitted.findings.some(
        (f) => f.check === "assignment" && f.status === "ok" && /Assigned to .*virtualMachineScaleSets/.test(f.message),
      ),
    );

    const sneaky = diagnose(await gatherDoctorInput(stack.kc, "kube-system", "sneaky", keys));
    assert.equal(sneaky.getsToken, false);
    assert.ok(
      sneaky.findings.some(
        (f) => f.check === "binding" && f.status === "problem" && /bound in "team-a"/.test(f.message),
      ),
    );
    assert.ok(
      sneaky.findings.some(
        (f) =>
          f.check === "admission mark" &&
          f.status === "problem" &&
          /does not match the pod's namespace/.test(f.message),
      ),
    );
  });
});
