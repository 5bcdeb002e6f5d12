// Federation against a real API server's service-account issuer: the Entra stand-in verifies a
// TokenRequest token (audience api://AzureADTokenExchange) through the real kube-apiserver's
// OIDC discovery and JWKS, as Entra verifies an AKS cluster's. A real API server answers
// discovery with 403 to anonymous callers unless ClusterRole system:service-account-issuer-
// discovery is bound to system:unauthenticated; without that binding the exchange fails at once
// with AADSTS50166 and the NMI's message says which binding is missing.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubeRequest } from "../../../src/kube/request.ts";
import { FEDERATION } from "../../../src/model/constants.ts";
import type { AzureIdentity } from "../../../src/model/types.ts";
import { FederatedSources } from "../../../src/nmi/federated.ts";
import { UpstreamError } from "../../../src/nmi/token-sources.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { identityId, idKey } from "../../../src/playground/azure/index.ts";
import { decodeJwt } from "../../../src/playground/azure/tokens.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { startTestCluster } from "../../helpers/cluster.ts";
import { within } from "../../helpers/eventually.ts";
import { sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";

const BINDING = "podid-test-issuer-discovery";
const RBAC = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

/** An anonymous GET, as Entra fetches an issuer's documents. */
function anonymousGet(url: string, caPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The JWKS as an anonymous client without an Accept header gets it. */
function anonymousJwks(url: string, caPem: string): Promise<{ contentType: string; keys: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, timeout: 5_000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () =>
        resolve({
          contentType: res.headers["content-type"] ?? "",
          keys: (JSON.parse(text) as { keys: Record<string, unknown>[] }).keys,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("real cluster: its service-account issuer verified by the Entra stand-in", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let azure: AzureFixture;
  let dir: string;
  let ns: string;
  let tokenFile: string;
  const reader = { name: "demo-reader", clientID: "", resourceID: "" };

  const identity = (): AzureIdentity =>
    ({
      metadata: { name: reader.name, namespace: ns },
      type: 0,
      clientID: reader.clientID,
      resourceID: reader.resourceID,
    }) as AzureIdentity;
  const sources = () =>
    new FederatedSources({
      tenantId: azure.pg.tenantId,
      tokenFile,
      authority: { authorityHost: azure.pg.authorityHost, caPem: azure.pg.caPem },
    });

  before(async () => {
    [cp, azure] = await Promise.all([sharedRealCluster(), startTestAzure()]);
    azure.pg.trustIssuerCa(cp.caPem);
    dir = mkdtempSync(join(tmpdir(), "podid-real-fed-"));
    ns = uniqueNamespace("podid-fed");
    await kubeRequest(cp.kc, { method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } });
    await kubeRequest(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: "podid-nmi" } },
    });
    const r = await kubeRequest<{ status: { token: string } }>(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/serviceaccounts/podid-nmi/token`,
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [FEDERATION.audience], expirationSeconds: FEDERATION.tokenExpirationSeconds },
      },
    });
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, r.status.token);
    const i = azure.cloud.identities.find((x) => x.name === reader.name)!;
    reader.clientID = i.clientId;
    reader.resourceID = identityId(azure.cloud.subscriptionId, i.resourceGroup, i.name);
    azure.pg.federatedCredentialStore.set(
      idKey(reader.resourceID),
      new Map([
        [
          FEDERATION.credentialName,
          {
            id: `${reader.resourceID}/federatedIdentityCredentials/${FEDERATION.credentialName}`,
            name: FEDERATION.credentialName,
            issuer: cp.issuer,
            subject: FEDERATION.subject(ns),
            audiences: [FEDERATION.audience],
          },
        ],
      ]),
    );
  });

  after(async () => {
    await kubeRequest(cp.kc, { method: "DELETE", path: `${RBAC}/${BINDING}` }).catch(() => undefined);
    await kubeRequest(cp.kc, { method: "DELETE", path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
    await azure?.pg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the real token is an RS256 JWT with a kid, issued by the API server's URL", () => {
    const jwt = decodeJwt(readFileSync(tokenFile, "utf8"))!;
    assert.equal(jwt.header.alg, "RS256");
    assert.equal(typeof jwt.header.kid, "string");
    assert.equal(jwt.claims.iss, cp.issuer);
    assert.equal(jwt.claims.sub, FEDERATION.subject(ns));
    assert.deepEqual(jwt.claims.aud, [FEDERATION.audience]);
  });

  it("without the discovery binding: anonymous discovery is 403 and the exchange fails at once, saying why", async () => {
    assert.equal(await anonymousGet(`${cp.issuer}/.well-known/openid-configuration`, cp.caPem), 403);
    const started = Date.now();
    const err = await sources()
      .source(identity())
      .getToken("https://storage.azure.com/")
      .then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => e,
      );
    assert.ok(Date.now() - started < 15_000, "no hang");
    assert.ok(err instanceof UpstreamError, String(err));
    assert.equal(err.imds.status, 400);
    assert.match(err.imds.description, /AADSTS50166/);
    assert.match(
      err.imds.description,
      /bind ClusterRole system:service-account-issuer-discovery to group system:unauthenticated/,
    );
  });

  it("with system:service-account-issuer-discovery bound to system:unauthenticated, Entra verifies the token", async () => {
    await kubeRequest(cp.kc, {
      method: "POST",
      path: RBAC,
      body: {
        metadata: { name: BINDING },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "system:service-account-issuer-discovery",
        },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:unauthenticated" }],
      },
    });
    await within(
      10_000,
      async () => ((await anonymousGet(`${cp.issuer}/openid/v1/jwks`, cp.caPem)) === 200 ? true : undefined),
      "anonymous JWKS",
    );
    const t = await sources().source(identity()).getToken("https://storage.azure.com/");
    const claims = decodeJwt(t.accessToken)!.claims;
    assert.equal(claims.appid, reader.clientID);
    assert.equal(claims.aud, "https://storage.azure.com");
    assert.match(String(claims.xms_mirid), /userAssignedIdentities\/demo-reader$/);
    assert.ok(
      azure.pg.issuerFetches().some((u) => u === `${cp.issuer}/openid/v1/jwks`),
      "keys came from the real JWKS",
    );
  });

  it("parity: the playground API server's discovery document and JWKS have the real ones' shape", async () => {
    const real = await kubeRequest<Record<string, unknown>>(cp.kc, { path: "/.well-known/openid-configuration" });
    const pg = await startTestCluster();
    try {
      const emulated = await kubeRequest<Record<string, unknown>>(pg.kc, { path: "/.well-known/openid-configuration" });
      assert.deepEqual(Object.keys(emulated).sort(), Object.keys(real).sort());
      const { issuer: ri, jwks_uri: rj, ...realRest } = real;
      const { issuer: ei, jwks_uri: ej, ...emulatedRest } = emulated;
      assert.deepEqual(emulatedRest, realRest);
      assert.equal(rj, `${String(ri)}/openid/v1/jwks`);
      assert.equal(ej, `${String(ei)}/openid/v1/jwks`);
      // Anonymous, as Entra asks (the binding of the test before is still in place).
      const realJwks = await anonymousJwks(`${cp.issuer}/openid/v1/jwks`, cp.caPem);
      const emulatedJwks = await anonymousJwks(`${pg.api.url}/openid/v1/jwks`, pg.api.caPem);
      assert.equal(emulatedJwks.contentType, realJwks.contentType);
      const [realKey] = realJwks.keys;
      const [emulatedKey] = emulatedJwks.keys;
      assert.deepEqual(Object.keys(emulatedKey!).sort(), Object.keys(realKey!).sort());
      assert.deepEqual(
        [emulatedKey!.alg, emulatedKey!.kty, emulatedKey!.use],
        [realKey!.alg, realKey!.kty, realKey!.use],
      );
    } finally {
      await pg.stop();
    }
  });
});
