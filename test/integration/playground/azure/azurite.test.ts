// Azurite, started by the playground, with the real BlobServiceClient: a token from the Entra
// stand-in creates, uploads and reads a blob; a token for another audience or an expired one
// is refused with 403 AuthenticationFailed. Azurite is a child process and must not outlive us.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BlobServiceClient, type StoragePipelineOptions } from "@azure/storage-blob";
import { RestError } from "@azure/core-rest-pipeline";
import { reconcilerCredential, startTestAzure, staticCredential, type AzureFixture } from "../../../helpers/azure.ts";

describe("playground Azurite", function () {
  this.timeout(60_000);
  let f: AzureFixture;
  // StoragePipelineOptions does not declare tlsOptions, but the pipeline it builds honours it.
  const tls = (): StoragePipelineOptions =>
    ({ tlsOptions: { ca: f.pg.caPem }, retryOptions: { maxTries: 1 } }) as StoragePipelineOptions;

  before(async () => {
    f = await startTestAzure({ azurite: true });
  });
  after(async () => {
    await f?.pg.stop();
  });

  it("creates, uploads and reads a blob with a token from the Entra stand-in", async () => {
    const client = new BlobServiceClient(f.pg.azurite!.blobUrl, reconcilerCredential(f), tls());
    const container = client.getContainerClient("podid-test");
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient("hello.txt");
    await blob.upload("hello from podid", 16);
    const text = (await blob.downloadToBuffer()).toString();
    assert.equal(text, "hello from podid");
  });

  const refused: Array<{ name: string; token: (f: AzureFixture) => string }> = [
    {
      name: "a token for another audience",
      token: (fx) =>
        fx.pg.mintToken("https://management.azure.com/", { clientId: "a", objectId: "b", authMethod: "1" }).token,
    },
    {
      name: "an expired token",
      token: (fx) =>
        fx.pg.mintToken(
          "https://storage.azure.com",
          { clientId: "a", objectId: "b", authMethod: "1" },
          60,
          Math.floor(Date.now() / 1000) - 7200,
        ).token,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} with 403 AuthenticationFailed`, async () => {
      const client = new BlobServiceClient(f.pg.azurite!.blobUrl, staticCredential(c.token(f)), tls());
      await assert.rejects(
        client.getContainerClient("podid-test").getProperties(),
        (e: unknown) => e instanceof RestError && e.statusCode === 403 && e.code === "AuthenticationFailed",
      );
    });
  }
});

describe("playground Azurite process lifetime", function () {
  this.timeout(60_000);

  /** PIDs of processes whose command line names the given Azurite port. */
  function azuriteProcesses(port: number): number[] {
    const found: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
        const i = args.indexOf("--blobPort");
        if (i >= 0 && args[i + 1] === String(port) && args[1]?.endsWith("blob/main.js") === true)
          found.push(Number(entry));
      } catch {
        // the process ended while we looked
      }
    }
    return found;
  }

  it("does not outlive a parent that is killed outright", async () => {
    const script = `
      import { startAzurite } from "./src/playground/azure/azurite.ts";
      import { createCertificateAuthority } from "./src/shared/pki.ts";
      const h = await startAzurite(createCertificateAuthority());
      console.log(JSON.stringify({ port: h.port }));
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    parent.stderr.resume();
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        parent.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          const m = /"port":(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        parent.once("exit", (code) => reject(new Error(`parent exited early (${code}): ${out}`)));
      });
      assert.equal(azuriteProcesses(port).length, 1, "Azurite runs while its parent lives");
      parent.kill("SIGKILL");
      let left = azuriteProcesses(port);
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await sleep(100);
        left = azuriteProcesses(port);
      }
      assert.deepEqual(left, [], "Azurite went with its parent");
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
    }
  });
});
