// Entra's federated assertion checks, each refusal tried: the stand-in must refuse what Entra
// refuses, with Entra's AADSTS code, and never fetch keys for an issuer no credential trusts or
// one off the loopback range.
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import type { FederatedCredentialRecord } from "../../../../src/playground/azure/arm-state.ts";
import {
  checkFederatedAssertion,
  isLoopbackUrl,
  IssuerKeys,
  type IssuerKeySource,
} from "../../../../src/playground/azure/federated-assertion.ts";
import { signJwt } from "../../../../src/playground/azure/tokens.ts";

const ISS = "https://127.0.0.1:6443";
const SUB = "system:serviceaccount:podid-system:podid-nmi";
const AUD = "api://AzureADTokenExchange";
const NOW = 1_800_000_000;
const pair = (): { privateKey: KeyObject; publicKey: KeyObject } => generateKeyPairSync("rsa", { modulusLength: 2048 });
const issuerKey = pair();
const otherKey = pair();

const credential: FederatedCredentialRecord = {
  id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id/federatedIdentityCredentials/podid-nmi",
  name: "podid-nmi",
  issuer: ISS,
  subject: SUB,
  audiences: [AUD],
};

/** Keys as the issuer publishes them: kid "k1" only; records what was asked. */
function keys(): IssuerKeySource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    key: (iss, kid) => {
      asked.push(iss);
      return Promise.resolve(iss === ISS && kid === "k1" ? issuerKey.publicKey : undefined);
    },
  };
}

function assertion(over: Record<string, unknown> = {}, opts: { kid?: string; key?: KeyObject } = {}): string {
  return signJwt(
    { alg: "RS256", kid: opts.kid ?? "k1" },
    { iss: ISS, sub: SUB, aud: [AUD], iat: NOW - 10, nbf: NOW - 10, exp: NOW + 3600, ...over },
    opts.key ?? issuerKey.privateKey,
  );
}

const codeOf = async (
  token: string,
  creds: FederatedCredentialRecord[] = [credential],
  source: IssuerKeySource = keys(),
): Promise<number | "ok"> => {
  const r = await checkFederatedAssertion(token, creds, source, NOW);
  return r.ok ? "ok" : (r.error.body.error_codes as number[])[0]!;
};

describe("playground Entra: federated client assertions", () => {
  it("accepts the NMI's token when issuer, subject and audience match a credential", async () => {
    const r = await checkFederatedAssertion(assertion(), [credential], keys(), NOW);
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.credential.name, "podid-nmi");
  });

  const refusals: { name: string; token: () => string; creds?: FederatedCredentialRecord[]; code: number }[] = [
    {
      name: "wrong subject (another service account)",
      token: () => assertion({ sub: "system:serviceaccount:x:y" }),
      code: 700213,
    },
    { name: "subject differing only in case", token: () => assertion({ sub: SUB.toUpperCase() }), code: 700213 },
    { name: "wrong issuer (another cluster)", token: () => assertion({ iss: "https://127.0.0.2:6443" }), code: 700211 },
    { name: "wrong audience", token: () => assertion({ aud: ["podid-nmi"] }), code: 700212 },
    { name: "expired beyond the skew", token: () => assertion({ exp: NOW - 301 }), code: 700024 },
    { name: "not yet valid beyond the skew", token: () => assertion({ nbf: NOW + 301 }), code: 700024 },
    { name: "no exp at all", token: () => assertion({ exp: undefined }), code: 700024 },
    { name: "bad signature (another key)", token: () => assertion({}, { key: otherKey.privateKey }), code: 700027 },
    { name: "unknown kid", token: () => assertion({}, { kid: "rotated-away" }), code: 700027 },
    { name: "not a JWT", token: () => "not.a-jwt", code: 50027 },
    { name: "identity without federated credentials", token: () => assertion(), creds: [], code: 70021 },
  ];
  for (const c of refusals)
    it(`refuses ${c.name} with AADSTS${c.code}`, async () => {
      assert.equal(await codeOf(c.token(), c.creds), c.code);
    });

  it("accepts times within Entra's five-minute skew", async () => {
    assert.equal(await codeOf(assertion({ exp: NOW - 200, nbf: NOW + 200 })), "ok");
  });

  it("an alg other than RS256 (e.g. none, HS256 with the public key) is refused", async () => {
    const [h, b] = assertion().split(".");
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: "k1" })).toString("base64url")}.${b}.`;
    assert.equal(await codeOf(none), 700027);
    assert.ok(h);
  });

  it("Entra's error carries the JSON shape MSAL reads (error, error_description, error_codes, trace fields)", async () => {
    const r = await checkFederatedAssertion(assertion({ sub: "system:serviceaccount:x:y" }), [credential], keys(), NOW);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.body.error, "invalid_client");
    assert.match(String(r.error.body.error_description), /^AADSTS700213: .*'system:serviceaccount:x:y'/);
    for (const f of ["timestamp", "trace_id", "correlation_id"]) assert.equal(typeof r.error.body[f], "string", f);
  });

  it("fetches no key for an issuer no credential names (attack: a token from an issuer the attacker runs)", async () => {
    const source = keys();
    const forged = signJwt(
      { alg: "RS256", kid: "k1" },
      { iss: "https://127.0.0.9:1", sub: SUB, aud: [AUD], exp: NOW + 60 },
      otherKey.privateKey,
    );
    assert.equal(await codeOf(forged, [credential], source), 700211);
    assert.deepEqual(source.asked, []);
  });

  it("refuses to fetch a non-loopback issuer's keys, even one a credential names (the network rule)", async () => {
    const external = { ...credential, issuer: "https://oidc.example.com/issuer" };
    const source = new IssuerKeys();
    const r = await checkFederatedAssertion(assertion({ iss: external.issuer }), [external], source, NOW);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal((r.error.body.error_codes as number[])[0], 50166);
    assert.match(r.detail ?? "", /only from 127\.0\.0\.0\/8; refused https:\/\/oidc\.example\.com/);
    assert.deepEqual(source.fetched, []);
  });

  const urls: [string, boolean][] = [
    ["https://127.0.0.1:6443", true],
    ["http://127.4.5.6/x", true],
    ["https://10.0.0.1", false],
    ["https://localhost:6443", false],
    ["https://[::ffff:127.0.0.1]", false],
    ["https://127.0.0.1.nip.io", false],
    ["file:///etc/passwd", false],
    ["not a url", false],
  ];
  for (const [url, ok] of urls)
    it(`isLoopbackUrl(${url}) is ${ok}`, () => {
      assert.equal(isLoopbackUrl(url), ok);
    });
});
