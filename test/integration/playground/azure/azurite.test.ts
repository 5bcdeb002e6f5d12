// Azurite, started by the playground, with the real BlobServiceClient: a token from the Entra
// stand-in creates, uploads and reads a blob; a token for another audience or an expired one
// is refused with 403 AuthenticationFailed. Azurite is a child process and must not outlive us.
import assert from "node:assert/strict";
import { BlobServiceClient, type StoragePipelineOptions } from "@azure/storage-blob";
import { RestError } from "@azure/core-rest-pipeline";
import { reconcilerCredential, startTestAzure, staticCredential, type AzureFixture } from "../../../helpers/azure.ts";

describe("playground Azurite", function () {
  this.timeout(60_000);
  let f: AzureFixture;
  // StoragePipelineOptions does not declare tlsOptions, but the pipeline it builds honours it.
  const tls = (): StoragePipelineOptions => ({ tlsOptions: { ca: f.pg.caPem }, retryOptions: { maxTries: 1 } }) as StoragePipelineOptions;

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
    { name: "a token for another audience", token: (fx) => fx.pg.mintToken("https://management.azure.com/", { clientId: "a", objectId: "b", authMethod: "1" }).token },
    {
      name: "an expired token",
      token: (fx) => fx.pg.mintToken("https://storage.azure.com", { clientId: "a", objectId: "b", authMethod: "1" }, 60, Math.floor(Date.now() / 1000) - 7200).token,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} with 403 AuthenticationFailed`, async () => {
      const client = new BlobServiceClient(f.pg.azurite!.blobUrl, staticCredential(c.token(f)), tls());
      await assert.rejects(client.getContainerClient("podid-test").getProperties(), (e: unknown) => e instanceof RestError && e.statusCode === 403 && e.code === "AuthenticationFailed");
    });
  }
});
