// podid's own CRDs (config/crd, applied with kubectl's offline kustomize) served by the
// playground, with the seed article's manifests applied against them as a user would.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startTestCluster, type TestCluster } from "../../../helpers/cluster.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

function kubectl(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "kubectl",
      args,
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 20_000 },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : 1, stdout, stderr });
      },
    );
  });
}

describe("playground kube API with podid's CRDs", function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({ simulateKubelet: false });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("applies config/crd, establishes every CRD and accepts the seed's manifests", async () => {
    const k = (args: string[]): ReturnType<typeof kubectl> => kubectl(cluster.kubeconfigPath, args);
    const crds = await k(["apply", "-k", "config/crd"]);
    assert.equal(crds.code, 0, crds.stderr);
    const names = crds.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(/ created$/, ""));
    assert.ok(names.length >= 4, crds.stdout);
    const wait = await k(["wait", "--for=condition=Established", ...names, "--timeout=15s"]);
    assert.equal(wait.code, 0, wait.stderr);
    const seed = await k(["apply", "-f", "test/fixtures/playground/seed-manifests.yaml"]);
    assert.equal(seed.code, 0, seed.stderr);
    assert.equal(seed.stdout.trim().split("\n").length, 3);
    const get = await k(["get", "azureidentities", "myapp-identity", "-o", "jsonpath={.spec.ClientID}"]);
    assert.equal(get.stdout, "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d");
  });
});
