// Identity types 1 and 2: the NMI's service-principal token source with the real
// @azure/identity credentials against the Entra ID stand-in, the secret or certificate read
// from the identity's Secret.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import type { AzureIdentity } from "../../../src/model/types.ts";
import { servicePrincipalSource, UpstreamError, type SecretReader } from "../../../src/nmi/token-sources.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";

const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;

describe("nmi service-principal token source against the Entra stand-in", function () {
  this.timeout(60_000);
  let f: AzureFixture;
  const secrets = new Map<string, Record<string, string>>();
  const read: SecretReader = (ns, name) => {
    const s = secrets.get(`${ns}/${name}`);
    return s === undefined ? Promise.reject(new Error(`secrets "${name}" not found`)) : Promise.resolve(s);
  };
  const sp = (type: 1 | 2, clientID: string, secretName: string, secretNs = "team-a"): AzureIdentity => ({
    metadata: { name: `sp-${type}`, namespace: "team-a", labels: {}, annotations: {} },
    type,
    clientID,
    tenantID: f.pg.tenantId,
    clientPassword: { name: secretName, namespace: secretNs },
  });
  const authority = () => ({ authorityHost: f.pg.authorityHost, caPem: f.pg.caPem });

  before(async () => {
    f = await startTestAzure();
  });
  after(() => f.pg.stop());

  it("type 1: client secret from the Secret's clientsecret key", async () => {
    const app = f.pg.servicePrincipals.register({ name: "team-a-app", secret: "s3cret-value-for-tests" });
    secrets.set("team-a/app-secret", { clientsecret: "s3cret-value-for-tests\n" });
    const t = await servicePrincipalSource(sp(1, app.clientId, "app-secret"), read, authority()).getToken(
      "https://storage.azure.com",
    );
    assert.equal(claims(t.accessToken).appid ?? claims(t.accessToken).azp, app.clientId);
    assert.ok(t.expiresOn > Date.now() / 1000);
  });

  it("type 2: certificate and key from the Secret (PEM)", async () => {
    const leaf = f.ca.issue({ commonName: "team-a-cert-app" });
    const app = f.pg.servicePrincipals.register({ name: "team-a-cert", certificatePem: leaf.certPem });
    secrets.set("team-a/app-cert", { "tls.crt": leaf.certPem, "tls.key": leaf.keyPem });
    const t = await servicePrincipalSource(sp(2, app.clientId, "app-cert"), read, authority()).getToken(
      "https://management.azure.com/",
    );
    assert.equal(claims(t.accessToken).appid ?? claims(t.accessToken).azp, app.clientId);
  });

  const refusals: Array<[string, () => AzureIdentity, number, RegExp]> = [
    [
      "a Secret in another namespace",
      () => sp(1, "00000000-0000-4000-8000-000000000001", "x", "team-b"),
      403,
      /another namespace/,
    ],
    ["a missing Secret", () => sp(1, "00000000-0000-4000-8000-000000000001", "absent"), 500, /not found/],
    [
      "a Secret without the key",
      () => (secrets.set("team-a/empty", {}), sp(1, "00000000-0000-4000-8000-000000000001", "empty")),
      500,
      /clientsecret/,
    ],
    [
      "a wrong secret (Entra's invalid_client)",
      () => (
        secrets.set("team-a/wrong", { clientsecret: "nope" }),
        sp(1, f.cloud.servicePrincipals[0]!.clientId, "wrong")
      ),
      400,
      /Entra ID refused/,
    ],
  ];
  for (const [name, identity, status, re] of refusals) {
    it(`refuses ${name} with ${status}`, async () => {
      await assert.rejects(
        servicePrincipalSource(identity(), read, authority()).getToken("https://storage.azure.com"),
        (e: unknown) => {
          assert.ok(e instanceof UpstreamError, String(e));
          assert.equal(e.imds.status, status);
          assert.match(e.imds.description, re);
          return true;
        },
      );
    });
  }
});
