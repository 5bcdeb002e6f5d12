// The Entra ID stand-in with the real service-principal credentials: client secret and
// certificate assertion, wrong secrets with Entra's error codes, and the published JWKS that
// verifies the tokens it issues.
import assert from "node:assert/strict";
import { request } from "node:https";
import { createPublicKey, verify } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import {
  certificateCredential,
  reconcilerCredential,
  startTestAzure,
  type AzureFixture,
} from "../../../helpers/azure.ts";
import { decodeJwt } from "../../../../src/playground/azure/tokens.ts";

function getJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let data = "";
      res.on("data", (c: Buffer) => (data += c.toString()));
      res.on("end", () => resolve(JSON.parse(data) as Record<string, unknown>));
    })
      .on("error", reject)
      .end();
  });
}

describe("playground Entra ID stand-in", () => {
  let f: AzureFixture;
  before(async () => {
    f = await startTestAzure();
  });
  after(async () => {
    await f?.pg.stop();
  });

  it("issues a token to ClientSecretCredential that verifies against the published JWKS", async () => {
    const t = await reconcilerCredential(f).getToken("https://management.azure.com/.default");
    const jwt = decodeJwt(t.token)!;
    assert.equal(jwt.claims.aud, "https://management.azure.com");
    assert.equal(jwt.claims.appid, f.cloud.servicePrincipals[0]!.clientId);
    assert.equal(jwt.claims.appidacr, "1");
    const config = await getJson(
      `${f.pg.authorityHost}/${f.pg.tenantId}/v2.0/.well-known/openid-configuration`,
      f.pg.caPem,
    );
    assert.equal(config.issuer, `${f.pg.authorityHost}/${f.pg.tenantId}/v2.0`);
    const jwks = await getJson(String(config.jwks_uri), f.pg.caPem);
    const jwk = (jwks.keys as Array<Record<string, unknown>>).find((k) => k.kid === jwt.header.kid)!;
    const key = createPublicKey({ key: jwk, format: "jwk" });
    assert.ok(verify("sha256", Buffer.from(jwt.signingInput), key, jwt.signature));
  });

  it("refuses a wrong secret with AADSTS7000215, without retrying", async () => {
    const sp = f.cloud.servicePrincipals[0]!;
    f.pg.calls.reset();
    const cred = new ClientSecretCredential(f.pg.tenantId, sp.clientId, "not-the-secret", {
      authorityHost: f.pg.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: f.pg.caPem },
    });
    await assert.rejects(
      cred.getToken("https://management.azure.com/.default"),
      (e: Error) => e.name === "AuthenticationRequiredError" && /7000215/.test(e.message),
    );
    assert.equal(f.pg.calls.count({ service: "entra", operation: "token" }), 1);
  });

  it("refuses an unknown application with AADSTS700016", async () => {
    const cred = new ClientSecretCredential(f.pg.tenantId, "0e0e0e0e-0000-4000-8000-000000000000", "x", {
      authorityHost: f.pg.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: f.pg.caPem },
    });
    await assert.rejects(cred.getToken("https://storage.azure.com/.default"), /700016/);
  });

  it("issues a token to ClientCertificateCredential for a registered certificate only", async () => {
    const leaf = f.ca.issue({ commonName: "podid-type2-app" });
    const sp = f.pg.servicePrincipals.register({ name: "type2", certificatePem: leaf.certPem });
    const t = await certificateCredential(f, sp.clientId, `${leaf.certPem}\n${leaf.keyPem}`).getToken(
      "https://storage.azure.com/.default",
    );
    const claims = decodeJwt(t.token)!.claims;
    assert.equal(claims.appid, sp.clientId);
    assert.equal(claims.appidacr, "2");

    const other = f.ca.issue({ commonName: "not-registered" });
    await assert.rejects(
      certificateCredential(f, sp.clientId, `${other.certPem}\n${other.keyPem}`).getToken(
        "https://storage.azure.com/.default",
      ),
      /700027/,
    );
  });
});
