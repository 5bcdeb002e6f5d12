// `podid reconciler` as a user runs it: a child process configured only by flags and the
// environment DefaultAzureCredential reads (AZURE_AUTHORITY_HOST names the Entra stand-in), so
// the playground and a real cluster differ only in configuration.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorld, until, type World } from "./world.ts";

describe("podid reconciler (the command)", function () {
  this.timeout(60_000);
  let w: World;
  let child: ChildProcess | undefined;
  let stderr = "";
  const dir = mkdtempSync(join(tmpdir(), "podid-reconciler-cli-"));
  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    child?.kill("SIGTERM");
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("assigns an identity with credentials from the environment and the playground CA from --ca-file", async () => {
    await w.addIdentity("demo-reader");
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, w.f.pg.caPem);
    const sp = w.f.cloud.servicePrincipals[0]!;
    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli.ts",
        "reconciler",
        "--kubeconfig",
        w.c.kubeconfigPath,
        "--arm-endpoint",
        w.f.pg.armUrl,
        "--ca-file",
        caFile,
        "--metrics-port",
        "0",
        "--batch-window-ms",
        "50",
        "--arm-poll-interval-ms",
        "20",
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AZURE_TENANT_ID: w.f.pg.tenantId,
          AZURE_CLIENT_ID: sp.clientId,
          AZURE_CLIENT_SECRET: sp.secret,
          AZURE_AUTHORITY_HOST: w.f.pg.authorityHost,
          PODID_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await w.addPod("cli-pod", "demo-reader", "uniform0");
    await until(
      "Assigned",
      async () =>
        (await w.assigned()).some((a) => a.metadata.name === "cli-pod-demo-reader" && a.status?.status === "Assigned"),
      40_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; reconciler stderr: ${stderr}`);
    });
    assert.ok(w.onTarget("uniform0").includes("demo-reader"));
  });
});
