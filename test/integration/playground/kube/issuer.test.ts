// The playground API server as a service-account issuer, as a real one with discovery opened:
// iss is its own URL, /.well-known/openid-configuration and /openid/v1/jwks answer without
// credentials, and a TokenRequest token is an RS256 JWT whose kid names a key of that JWKS,
// so a verifier that knows only the issuer URL (Entra, here its stand-in's key fetcher) can check it.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubeRequest } from "../../../../src/kube/request.ts";
import { FEDERATION } from "../../../../src/model/constants.ts";
import { IssuerKeys } from "../../../../src/playground/azure/federated-assertion.ts";
import { keepProjectedToken } from "../../../../src/playground/projected-token.ts";
import { decodeJwt } from "../../../../src/playground/azure/tokens.ts";
import { startTestCluster, type TestCluster } from "../../../helpers/cluster.ts";

function anonymousJson(url: string, caPem: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, timeout: 5_000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text === "" ? undefined : JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("playground kube: service-account issuer", function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it("serves discovery and JWKS without credentials, naming its own URL", async () => {
    const url = cluster.api.url;
    const doc = await anonymousJson(`${url}/.well-known/openid-configuration`, cluster.api.caPem);
    assert.equal(doc.status, 200);
    assert.deepEqual(doc.body, {
      issuer: url,
      jwks_uri: `${url}/openid/v1/jwks`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
    });
    const jwks = await anonymousJson(`${url}/openid/v1/jwks`, cluster.api.caPem);
    assert.equal(jwks.status, 200);
    const keys = (jwks.body as { keys: Record<string, unknown>[] }).keys;
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.alg, "RS256");
    assert.equal(typeof keys[0]!.kid, "string");
  });

  it("signs TokenRequest tokens as RS256 with a kid, iss its URL, aud the requested audiences", async () => {
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: "/api/v1/namespaces",
      body: { metadata: { name: "iss-t" } },
    });
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: "/api/v1/namespaces/iss-t/serviceaccounts",
      body: { metadata: { name: "podid-nmi" } },
    });
    const r = await kubeRequest<{ status: { token: string } }>(cluster.kc, {
      method: "POST",
      path: "/api/v1/namespaces/iss-t/serviceaccounts/podid-nmi/token",
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [FEDERATION.audience] },
      },
    });
    const jwt = decodeJwt(r.status.token)!;
    assert.equal(jwt.header.alg, "RS256");
    assert.equal(jwt.claims.iss, cluster.api.url);
    assert.equal(jwt.claims.sub, "system:serviceaccount:iss-t:podid-nmi");
    assert.deepEqual(jwt.claims.aud, [FEDERATION.audience]);
    // What Entra does: from iss alone, discovery, then the JWKS, then the kid's key.
    const keys = new IssuerKeys([cluster.api.caPem]);
    try {
      const key = await keys.key(String(jwt.claims.iss), String(jwt.header.kid));
      assert.ok(key !== undefined, "the kid is in the JWKS");
      assert.ok(verify("sha256", Buffer.from(jwt.signingInput), key, jwt.signature));
      assert.deepEqual(keys.fetched, [
        `${cluster.api.url}/.well-known/openid-configuration`,
        `${cluster.api.url}/openid/v1/jwks`,
      ]);
    } finally {
      await keys.close();
    }
  });

  it("projects a service-account token into a file, as the kubelet does, and rewrites it on rotation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podid-projected-"));
    const file = join(dir, "token");
    const projected = await keepProjectedToken(cluster.kc, {
      namespace: "iss-t",
      serviceAccount: "podid-nmi",
      audience: FEDERATION.audience,
      expirationSeconds: FEDERATION.tokenExpirationSeconds,
      file,
    });
    try {
      const first = decodeJwt(readFileSync(file, "utf8"))!;
      assert.deepEqual(first.claims.aud, [FEDERATION.audience]);
      assert.equal(Number(first.claims.exp) - Number(first.claims.iat), FEDERATION.tokenExpirationSeconds);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const before = statSync(file).mtimeMs;
      await new Promise((r) => setTimeout(r, 20));
      await projected.rotate();
      assert.notEqual(statSync(file).mtimeMs, before, "a rotation is a new file");
    } finally {
      projected.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
