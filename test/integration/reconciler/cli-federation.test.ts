// `podid reconciler --default-token-source=Federated` as a user runs it: the issuer discovered
// from the API server with the reconciler's own kubeconfig, the credential written with
// @azure/arm-msi, the pod Assigned by federation, and no scale-set write.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GROUP } from "../../../src/model/constants.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { NS, startWorld, until, type World } from "./world.ts";

describe("podid reconciler --default-token-source=Federated (the command)", function () {
  this.timeout(60_000);
  let w: World;
  let child: ChildProcess | undefined;
  let stderr = "";
  const dir = mkdtempSync(join(tmpdir(), "podid-reconciler-fed-"));
  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    child?.kill("SIGTERM");
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]): ChildProcess => {
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, w.f.pg.caPem);
    const sp = w.f.cloud.servicePrincipals[0]!;
    const c = spawn(
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
        ...args,
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
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    return c;
  };

  it("refuses a bad flag value naming the flag", async () => {
    const c = run(["--default-token-source", "federated"]);
    const code = await new Promise<number | null>((r) => c.on("exit", r));
    assert.notEqual(code, 0);
    assert.match(stderr, /--default-token-source expects NodeAssigned or Federated, got "federated"/);
    stderr = "";
  });

  it("a pod of an identity without spec.tokenSource is Assigned by federation, with no scale-set write", async () => {
    await w.addIdentity("demo-reader");
    child = run(["--default-token-source=Federated"]);
    await w.addPod("cli-fed", "demo-reader", "uniform0");
    type A = { metadata: { name: string }; status?: { status?: string; tokenSource?: string } };
    await until(
      "Assigned by federation",
      async () =>
        (
          await kubeRequest<{ items: A[] }>(w.c.kc, {
            path: `/apis/${GROUP}/v1/namespaces/${NS}/azureassignedidentities`,
          })
        ).items.some((a) => a.status?.status === "Assigned" && a.status.tokenSource === "Federated"),
      40_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; reconciler stderr: ${stderr}`);
    });
    assert.equal(w.f.pg.calls.armWrites({ resource: "virtualMachineScaleSets" }), 0);
    assert.equal(w.f.pg.calls.count({ resource: "federatedIdentityCredentials", method: "PUT" }), 1);
  });
});
