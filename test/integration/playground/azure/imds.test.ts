// Each node's IMDS stand-in: ManagedIdentityCredential (in a child process, since MSAL keeps
// its token cache and endpoint process-wide) gets a token only once the identity is assigned
// through ARM; raw requests see IMDS's own errors and limits.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ComputeManagementClient } from "@azure/arm-compute";
import { reconcilerCredential, startTestAzure, type AzureFixture } from "../../../helpers/azure.ts";
import { decodeJwt } from "../../../../src/playground/azure/tokens.ts";
import { identityId } from "../../../../src/playground/azure/ids.ts";

const run = promisify(execFile);

// Plain ESM run by `node -e`: no tsx needed, so each check costs well under a second.
const CHILD = `
import { ManagedIdentityCredential } from "@azure/identity";
const cred = new ManagedIdentityCredential({ clientId: process.env.AZURE_CLIENT_ID });
try {
  const t = await cred.getToken("https://storage.azure.com/.default");
  console.log(JSON.stringify({ ok: true, token: t.token }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, message: e.message }));
}
`;

async function managedIdentityToken(
  imdsUrl: string,
  clientId: string,
): Promise<{ ok: boolean; token?: string; name?: string; message?: string }> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", CHILD], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, AZURE_CLIENT_ID: clientId, AZURE_POD_IDENTITY_AUTHORITY_HOST: imdsUrl },
    timeout: 20_000,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as { ok: boolean; token?: string };
}

describe("playground IMDS stand-in", () => {
  let f: AzureFixture;
  const node = "aks-nodepool1-12345678-vmss000000";
  const tokenPath = "/metadata/identity/oauth2/token";
  before(async () => {
    f = await startTestAzure({ lroDurationMs: 0 });
  });
  after(async () => {
    await f?.pg.stop();
  });
  beforeEach(() => f.pg.faults.reset());

  it("gives ManagedIdentityCredential a token only after the identity is assigned to the node's scale set", async () => {
    const reader = f.cloud.identities.find((i) => i.name === "demo-reader")!;
    const before = await managedIdentityToken(f.pg.imdsUrl(node), reader.clientId);
    assert.equal(before.ok, false);
    assert.equal(before.name, "CredentialUnavailableError");
    assert.match(before.message ?? "", /Identity not found/);

    const client = new ComputeManagementClient(reconcilerCredential(f), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      tlsOptions: { ca: f.pg.caPem },
    });
    const id = identityId(f.cloud.subscriptionId, reader.resourceGroup, reader.name);
    await client.virtualMachineScaleSets.beginUpdateAndWait(
      "mc_podid_playground_westeurope",
      "aks-nodepool1-12345678-vmss",
      {
        identity: { type: "UserAssigned", userAssignedIdentities: { [id]: {} } },
      },
    );

    const after = await managedIdentityToken(f.pg.imdsUrl(node), reader.clientId);
    assert.equal(after.ok, true, after.message);
    const claims = decodeJwt(after.token!)!.claims;
    assert.equal(claims.aud, "https://storage.azure.com");
    assert.equal(claims.appid, reader.clientId);
    assert.equal(claims.oid, reader.principalId);
    assert.equal(claims.iss, `https://sts.windows.net/${f.cloud.tenantId}/`);
    assert.match(
      String(claims.xms_mirid),
      /\/resourcegroups\/podid-identities\/providers\/Microsoft.ManagedIdentity\/userAssignedIdentities\/demo-reader$/,
    );
    // The other node pool's node does not have it.
    const elsewhere = await managedIdentityToken(f.pg.imdsUrl("aks-standalone-0"), reader.clientId);
    assert.equal(elsewhere.ok, false);
  });

  const cases: Array<{ name: string; path: string; headers: Record<string, string>; status: number; body?: unknown }> =
    [
      {
        name: "refuses a request without Metadata: true",
        path: `${tokenPath}?api-version=2018-02-01&resource=https://storage.azure.com`,
        headers: {},
        status: 400,
        body: { error: "invalid_request", error_description: "Required metadata header not specified" },
      },
      {
        name: "answers the availability probe (no query, no header) with 400, not 403",
        path: tokenPath,
        headers: {},
        status: 400,
      },
      {
        name: "refuses X-Forwarded-For",
        path: `${tokenPath}?api-version=2018-02-01&resource=https://storage.azure.com`,
        headers: { Metadata: "true", "X-Forwarded-For": "10.0.0.9" },
        status: 400,
      },
      {
        name: "refuses a missing resource",
        path: `${tokenPath}?api-version=2018-02-01`,
        headers: { Metadata: "true" },
        status: 400,
        body: { error: "invalid_request", error_description: "Required audience parameter not specified" },
      },
      {
        name: "answers an unassigned client ID with real IMDS's 400",
        path: `${tokenPath}?api-version=2018-02-01&resource=https://storage.azure.com&client_id=00000000-0000-4000-8000-000000000000`,
        headers: { Metadata: "true" },
        status: 400,
        body: { error: "invalid_request", error_description: "Identity not found" },
      },
      {
        name: "serves the only identity without a selector (path without trailing slash)",
        path: `${tokenPath}?api-version=2018-02-01&resource=https://vault.azure.net`,
        headers: { Metadata: "true" },
        status: 200,
      },
      {
        name: "serves the path with a trailing slash",
        path: `${tokenPath}/?api-version=2018-02-01&resource=https://vault.azure.net&client_id=c11e0001-0000-4000-8000-000000000001`,
        headers: { Metadata: "true" },
        status: 200,
      },
    ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await fetch(`${f.pg.imdsUrl("aks-standalone-0")}${c.path}`, { headers: c.headers });
      assert.equal(res.status, c.status);
      const body = (await res.json()) as Record<string, unknown>;
      if (c.body !== undefined) assert.deepEqual(body, c.body);
      if (c.status === 200) {
        assert.equal(body.token_type, "Bearer");
        assert.ok(Number(body.expires_on) > Date.now() / 1000);
        assert.equal(body.client_id, "c11e0001-0000-4000-8000-000000000001");
      }
    });
  }

  it("serves the instance document for the node", async () => {
    const res = await fetch(`${f.pg.imdsUrl(node)}/metadata/instance?api-version=2021-02-01`, {
      headers: { Metadata: "true" },
    });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { compute: Record<string, unknown> };
    assert.equal(doc.compute.vmScaleSetName, "aks-nodepool1-12345678-vmss");
    assert.equal(doc.compute.subscriptionId, f.cloud.subscriptionId);
    assert.match(
      String(doc.compute.resourceId),
      /virtualMachineScaleSets\/aks-nodepool1-12345678-vmss\/virtualMachines\/0$/,
    );
  });
});

describe("playground IMDS stand-in under load", () => {
  let f: AzureFixture;
  before(async () => {
    f = await startTestAzure({ lroDurationMs: 0, imdsLatencyMs: 2000 });
  });
  after(async () => {
    await f?.pg.stop();
  });

  it("answers 429 beyond 5 concurrent requests", async () => {
    const url = `${f.pg.imdsUrl("aks-standalone-0")}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net`;
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () =>
        fetch(url, { headers: { Metadata: "true" } }).then(async (r) => (await r.arrayBuffer(), r.status)),
      ),
    );
    assert.equal(statuses.filter((s) => s === 429).length, 3);
    assert.equal(statuses.filter((s) => s === 200).length, 5);
  });
});
