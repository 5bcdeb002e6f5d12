// A new user's first hour, on a fresh real kube-apiserver and controller-manager: the README's
// install steps run exactly as written (read from the README), first try; podid's programs then
// run under config/'s ServiceAccounts and serve the seed's story; then the API server is
// restarted mid-run and every program recovers without being restarted itself.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMISSION_MARK_ANNOTATION, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { renderKustomization } from "../../../src/playground/install.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import {
  NODES,
  ROOT,
  assignment,
  fromPod,
  identityAndBinding,
  podidOn,
  slowly,
  tokenPath,
  type PodidCluster,
  type RunningProgram,
  admittedPod,
  withoutCertManager,
} from "../../helpers/podid-real.ts";
import { kubectlOn, privateRealCluster } from "../../helpers/real-cluster.ts";

/** The commands of the README's install block, continuation lines joined. */
export function readmeInstallCommands(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Installing on AKS"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block !== undefined, "the README's install section has a sh block");
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function sh(command: string, kubeconfig: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      ["-c", command],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
  });
}

const STORAGE = "https://storage.azure.com/";

describe("real cluster: the README's install on a fresh cluster, then an API server restart", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let p: PodidCluster;
  let azure: AzureFixture;
  let programs: RunningProgram[] = [];
  const node = NODES[0]!;

  before(async () => {
    cp = await privateRealCluster();
    azure = await startTestAzure();
  });
  after(async () => {
    await p?.stop();
    await azure?.pg.stop();
    await cp?.stop();
  });

  it("installs with the README's commands, first try (cert-manager's four kinds aside)", async () => {
    const commands = readmeInstallCommands();
    assert.deepEqual(
      commands.map((c) => c.split(" ").slice(0, 3).join(" ")),
      ["kubectl apply -k", "kubectl -n podid-system"],
    );
    const objects = await renderKustomization(join(ROOT, "config", "default"));
    const certManager = objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/"));
    assert.equal(certManager.length, 4);

    const apply = await sh(commands[0]!, cp.kubeconfigPath);
    // Every object but cert-manager's is applied; those four are the only errors (no cert-manager here).
    const applied = apply.stdout.trim().split("\n");
    assert.equal(applied.length, objects.length - certManager.length, apply.stdout);
    for (const line of applied) assert.match(line, / created$/);
    const unmapped = apply.stderr.split("\n").filter((l) => l.includes("no matches for kind"));
    assert.deepEqual(
      unmapped.map((l) => /no matches for kind "(\w+)" in version "([^"]+)"/.exec(l)?.slice(1).join(" ")).sort(),
      certManager.map((o) => `${o.kind} ${o.apiVersion}`).sort(),
      apply.stderr,
    );
    assert.equal(apply.code, 1);

    const secret = await sh(commands[1]!, cp.kubeconfigPath);
    assert.equal(secret.code, 0, secret.stderr);
    assert.equal(secret.stdout.trim(), "secret/podid-admission-keys created");
  });

  it("applies again without a change (kubectl apply converges)", async () => {
    const again = await sh(readmeInstallCommands()[0]!, cp.kubeconfigPath);
    const changed = again.stdout
      .trim()
      .split("\n")
      .filter((l) => !l.endsWith(" unchanged"));
    // kubectl always sends the v1.24 API server a patch for a PodDisruptionBudget and prints
    // "configured"; the object is unchanged (generation 1), as docs/real-apiserver.md records.
    assert.deepEqual(changed, ["poddisruptionbudget.policy/podid-webhook configured"]);
    const pdb = await sh(
      `kubectl get pdb -n ${SYSTEM_NAMESPACE} podid-webhook -o jsonpath={.metadata.generation}`,
      cp.kubeconfigPath,
    );
    assert.equal(pdb.stdout, "1");
  });

  it("applies config/default without cert-manager's kinds cleanly (exit 0, nothing on stderr)", async () => {
    const r = await kubectlOn(cp, ["apply", "-f", "-"], await withoutCertManager());
    assert.deepEqual([r.code, r.stderr], [0, ""]);
    const objects = (await renderKustomization(join(ROOT, "config", "default"))).filter(
      (o) => !o.apiVersion.startsWith("cert-manager.io/"),
    );
    assert.equal(r.stdout.trim().split("\n").length, objects.length);
  });

  it("runs podid under config/'s ServiceAccounts: a labelled pod is admitted, assigned and served a token", async () => {
    p = await podidOn(cp, { install: false });
    // The programs read the key the README's command put in the Secret, as their mounts would.
    const secret = await p.kubectl([
      "get",
      "secret",
      "-n",
      SYSTEM_NAMESPACE,
      "podid-admission-keys",
      "-o",
      "jsonpath={.data.keys}",
    ]);
    writeFileSync(p.keyFile, Buffer.from(secret.stdout, "base64"));
    const webhook = await p.startWebhook();
    await p.pointWebhooksAt(webhook.port);
    programs = [webhook, await p.startReconciler(azure), await p.startNmi(node.name, azure)];
    await storyOnce("before");
  });

  async function storyOnce(tag: string): Promise<void> {
    const ns = await p.namespace(`install-${tag}`);
    const r = await p.kubectl(["apply", "-n", ns, "-f", "-"], identityAndBinding(azure, "demo-reader", "reader"));
    assert.equal(r.code, 0, r.stderr);
    const pod = await admittedPod(p, ns, "app", "reader", node.name);
    assert.ok(pod.metadata.annotations?.[ADMISSION_MARK_ANNOTATION]);
    const aai = await assignment(p, pod);
    assert.match(aai.status.target ?? "", /virtualMachineScaleSets\/aks-nodepool1-12345678-vmss$/);
    const nmi = programs[2]!;
    const token = await slowly(async () => {
      const t = await fromPod(pod.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`);
      return t.status === 200 ? t : undefined;
    }, `a token for the pod (${tag})`);
    assert.equal((JSON.parse(token.body) as { resource: string }).resource, STORAGE);
  }

  it("recovers from an API server restart: every program serves new objects without being restarted", async () => {
    await cp.restartApiServer();
    await storyOnce("after");
    for (const prog of programs) {
      const exited = await Promise.race([prog.exited.then(() => true), Promise.resolve(false)]);
      assert.equal(exited, false, `${prog.name} kept running (log: ${prog.logFile})`);
    }
  });
});
