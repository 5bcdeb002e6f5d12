// `podid playground --kube-only` as a user runs it: prints `ready`, writes kubeconfig, ca.pem and
// endpoints.json, serves kubectl, and stops cleanly on SIGTERM. Also watch bookmarks.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Watch } from "@kubernetes/client-node";
import { startTestCluster } from "../../../helpers/cluster.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

describe("podid playground command", function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), "podid-playground-"));
  let child: ChildProcess | undefined;

  after(() => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints ready, writes the state directory, serves kubectl and stops on SIGTERM", async () => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", "playground", "--kube-only", "--state-dir", dir],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      proc.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.split("\n").includes("ready")) resolve();
      });
      proc.on("exit", (code) => reject(new Error(`playground exited with ${code} before ready: ${out}`)));
    });
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    assert.match(endpoints.kube!, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(readFileSync(join(dir, "ca.pem"), "utf8"), /BEGIN CERTIFICATE/);
    const nodes = await new Promise<string>((resolve) =>
      execFile(
        "kubectl",
        ["get", "nodes", "-o", "jsonpath={.items[*].spec.providerID}"],
        { env: { ...process.env, KUBECONFIG: join(dir, "kubeconfig") } },
        (_e, stdout) => resolve(stdout),
      ),
    );
    assert.match(nodes, /azure:\/\/\/subscriptions\/[^ ]+\/virtualMachineScaleSets\/[^ ]+\/virtualMachines\/0/);
    assert.match(nodes, /azure:\/\/\/subscriptions\/[^ ]+\/providers\/Microsoft\.Compute\/virtualMachines\/[a-z0-9-]+/);
    const code = await new Promise<number | null>((resolve) => {
      proc.on("exit", (c) => resolve(c));
      proc.kill("SIGTERM");
    });
    assert.equal(code, 0);
  });

  it("sends BOOKMARK events to watches that allow them", async () => {
    const cluster = await startTestCluster({ bookmarkIntervalMs: 100 });
    try {
      const types: string[] = [];
      const ctrl = await new Watch(cluster.kc).watch(
        "/api/v1/namespaces/default/configmaps",
        { allowWatchBookmarks: true, resourceVersion: String(cluster.api.api.store.currentRv()) },
        (type) => types.push(type),
        () => undefined,
      );
      for (let i = 0; i < 100 && !types.includes("BOOKMARK"); i++) await new Promise((r) => setTimeout(r, 20));
      ctrl.abort();
      assert.ok(types.includes("BOOKMARK"));
    } finally {
      await cluster.stop();
    }
  });
});
