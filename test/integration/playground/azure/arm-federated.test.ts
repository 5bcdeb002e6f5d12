// The Resource Manager stand-in's federated identity credentials, driven by the real
// @azure/arm-msi client (its api-version, paths and body shape), with the limits Azure enforces
// observed as RestError status and code, and every call in the CallLog.
import assert from "node:assert/strict";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { RestError } from "@azure/core-rest-pipeline";
import { reconcilerCredential, resetAzure, startTestAzure, type AzureFixture } from "../../../helpers/azure.ts";

const RG = "podid-identities";
const ISSUER = "https://127.0.0.1:6443";
const AUD = ["api://AzureADTokenExchange"];

async function refusal(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RestError) return e;
    throw e;
  }
  assert.fail("expected Resource Manager to refuse the call");
}

describe("playground ARM stand-in: federated identity credentials with ManagedServiceIdentityClient", () => {
  let f: AzureFixture;
  let msi: ManagedServiceIdentityClient;
  const fic = () => msi.federatedIdentityCredentials;
  before(async () => {
    f = await startTestAzure({});
    msi = new ManagedServiceIdentityClient(reconcilerCredential(f), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      $host: f.pg.armUrl,
      credentialScopes: ["https://management.azure.com/.default"],
      tlsOptions: { ca: f.pg.caPem },
      retryOptions: { maxRetries: 0 },
    });
  });
  after(async () => {
    await f?.pg.stop();
  });
  beforeEach(async () => {
    resetAzure(f);
    for (const id of ["demo-reader", "demo-writer"])
      for await (const c of fic().list(RG, id)) await fic().delete(RG, id, c.name!);
    f.pg.calls.reset();
  });

  it("creates (201), reads, lists, updates (200) and deletes a credential; the calls are recorded, none to compute", async () => {
    const created = await fic().createOrUpdate(RG, "demo-reader", "podid-nmi", {
      issuer: ISSUER,
      subject: "system:serviceaccount:podid-system:podid-nmi",
      audiences: AUD,
    });
    assert.equal(created.name, "podid-nmi");
    assert.match(created.id ?? "", /\/userAssignedIdentities\/demo-reader\/federatedIdentityCredentials\/podid-nmi$/);
    assert.equal(created.type, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials");
    assert.deepEqual(created.audiences, AUD);
    const got = await fic().get(RG, "demo-reader", "PODID-NMI");
    assert.equal(got.subject, "system:serviceaccount:podid-system:podid-nmi");
    const updated = await fic().createOrUpdate(RG, "demo-reader", "podid-nmi", {
      issuer: ISSUER,
      subject: "system:serviceaccount:other:podid-nmi",
      audiences: AUD,
    });
    assert.equal(updated.subject, "system:serviceaccount:other:podid-nmi");
    const listed = [];
    for await (const c of fic().list(RG, "demo-reader")) listed.push(c.name);
    assert.deepEqual(listed, ["podid-nmi"]);
    await fic().delete(RG, "demo-reader", "podid-nmi");
    assert.equal((await refusal(fic().get(RG, "demo-reader", "podid-nmi"))).statusCode, 404);
    await fic().delete(RG, "demo-reader", "podid-nmi"); // gone already: 204, no error

    const calls = f.pg.calls.list({ service: "arm", resource: "federatedIdentityCredentials" });
    assert.deepEqual(
      calls.map((c) => `${c.operation} ${c.status}`),
      ["put 201", "get 200", "put 200", "list 200", "delete 200", "get 404", "delete 204"],
    );
    assert.match(calls[0]!.target, /demo-reader\/federatedidentitycredentials\/podid-nmi$/);
    assert.equal(f.pg.calls.armWrites({ resource: "federatedIdentityCredentials" }), 2);
    assert.equal(f.pg.calls.armWrites({ resource: "virtualMachineScaleSets" }), 0);
    assert.equal(f.pg.calls.armWrites({ resource: "virtualMachines" }), 0);
  });

  it("names are case-insensitive and keep the spelling they were created with", async () => {
    await fic().createOrUpdate(RG, "demo-writer", "Podid-NMI", { issuer: ISSUER, subject: "s", audiences: AUD });
    const got = await fic().get(RG, "demo-writer", "podid-nmi");
    assert.equal(got.name, "Podid-NMI");
    assert.equal(got.issuer, ISSUER);
  });

  it("refuses a non-https issuer, a missing subject, no audiences and a bad name, naming the property", async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp, string]> = [
      ["http issuer", { issuer: "http://127.0.0.1:6443", subject: "s", audiences: AUD }, /https/, "issuer"],
      ["no issuer", { subject: "s", audiences: AUD }, /issuer is required/, "issuer"],
      ["no subject", { issuer: ISSUER, audiences: AUD }, /subject is required/, "subject"],
      ["no audiences", { issuer: ISSUER, subject: "s", audiences: [] }, /audience/, "audiences"],
    ];
    for (const [what, props, message, property] of cases) {
      const e = await refusal(fic().createOrUpdate(RG, "demo-reader", "podid-nmi", props));
      assert.equal(e.statusCode, 400, what);
      assert.match(e.message, message, what);
      const body = e.response?.bodyAsText ?? "";
      assert.match(body, new RegExp(`properties\\.${property}`), what);
    }
    const named = await refusal(
      fic().createOrUpdate(RG, "demo-reader", "a", { issuer: ISSUER, subject: "s", audiences: AUD }),
    );
    assert.equal(named.statusCode, 400);
    assert.match(named.message, /name 'a' is invalid/);
  });

  it("404 for an unknown identity, and for an unknown credential", async () => {
    const e = await refusal(
      fic().createOrUpdate(RG, "ghost", "podid-nmi", { issuer: ISSUER, subject: "s", audiences: AUD }),
    );
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, "ResourceNotFound");
    assert.match(e.message, /userAssignedIdentities\/ghost/);
    const c = await refusal(fic().get(RG, "demo-reader", "nope"));
    assert.equal(c.statusCode, 404);
    assert.match(c.message, /federatedIdentityCredentials\/nope/);
  });

  it("20 credentials per identity: the 21st is refused; updating one of the 20 still works", async () => {
    for (let i = 0; i < 20; i++)
      await fic().createOrUpdate(RG, "demo-reader", `cred-${i}`, { issuer: ISSUER, subject: `s${i}`, audiences: AUD });
    const e = await refusal(
      fic().createOrUpdate(RG, "demo-reader", "podid-nmi", { issuer: ISSUER, subject: "s", audiences: AUD }),
    );
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, "FederatedIdentityCredentialsLimitExceeded");
    assert.match(e.message, /maximum of 20/);
    await fic().createOrUpdate(RG, "demo-reader", "cred-3", { issuer: ISSUER, subject: "s3b", audiences: AUD });
  });

  it("faults.unwritableCredentials: 403 AuthorizationFailed naming the write action, reads still allowed", async () => {
    const id = f.cloud.identities.find((i) => i.name === "demo-reader")!;
    f.pg.faults.unwritableCredentials.add(
      `/subscriptions/${f.cloud.subscriptionId}/resourcegroups/${id.resourceGroup}/providers/microsoft.managedidentity/userassignedidentities/${id.name}`.toLowerCase(),
    );
    const e = await refusal(
      fic().createOrUpdate(RG, "demo-reader", "podid-nmi", { issuer: ISSUER, subject: "s", audiences: AUD }),
    );
    assert.equal(e.statusCode, 403);
    assert.equal(e.code, "AuthorizationFailed");
    assert.match(e.message, /federatedIdentityCredentials\/write/);
    const d = await refusal(fic().delete(RG, "demo-reader", "podid-nmi"));
    assert.match(d.message, /federatedIdentityCredentials\/delete/);
    assert.equal((await refusal(fic().get(RG, "demo-reader", "podid-nmi"))).statusCode, 404);
  });

  it("one credential per issuer and subject", async () => {
    await fic().createOrUpdate(RG, "demo-reader", "first", { issuer: ISSUER, subject: "s", audiences: AUD });
    const e = await refusal(
      fic().createOrUpdate(RG, "demo-reader", "second", { issuer: ISSUER, subject: "s", audiences: AUD }),
    );
    assert.equal(e.statusCode, 400);
    assert.match(e.message, /Issuer and subject combination already exists/);
  });

  it("409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity for concurrent writes to one identity, not across identities", async () => {
    const put = (identity: string, name: string) =>
      fic().createOrUpdate(RG, identity, name, { issuer: ISSUER, subject: `${identity}/${name}`, audiences: AUD });
    const results = await Promise.allSettled([put("demo-reader", "one"), put("demo-reader", "two")]);
    const refused = results.filter((r) => r.status === "rejected");
    assert.equal(refused.length, 1);
    const e = (refused[0] as PromiseRejectedResult).reason as RestError;
    assert.equal(e.statusCode, 409);
    assert.equal(e.code, "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity");
    assert.match(e.message, /Concurrent Federated Identity Credentials writes under the same managed identity/);
    const other = await Promise.allSettled([put("demo-reader", "three"), put("demo-writer", "one")]);
    assert.ok(other.every((r) => r.status === "fulfilled"));
    assert.equal(f.pg.calls.count({ resource: "federatedIdentityCredentials", status: 409 }), 1);
  });
});
