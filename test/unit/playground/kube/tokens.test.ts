import assert from "node:assert/strict";
import {
  API_AUDIENCE,
  EXTRA_POD_NAME,
  EXTRA_POD_UID,
  reviewToken,
  TokenSigner,
  type LiveObjects,
  type TokenClaims,
} from "../../../../src/playground/kube/tokens.ts";

const signer = new TokenSigner();
const claims = (over: Partial<TokenClaims> = {}, pod = true): TokenClaims => ({
  iss: "https://kubernetes.default.svc.cluster.local",
  sub: "system:serviceaccount:team-a:app",
  aud: ["podid-nmi"],
  iat: 1000,
  nbf: 1000,
  exp: 2000,
  "kubernetes.io": {
    namespace: "team-a",
    serviceaccount: { name: "app", uid: "sa-uid" },
    ...(pod ? { pod: { name: "p1", uid: "pod-uid" } } : {}),
  },
  ...over,
});
const live = (podUid = "pod-uid"): LiveObjects => ({ serviceAccountUid: () => "sa-uid", podUid: () => podUid });

describe("playground kube service-account tokens", () => {
  it("authenticates a pod-bound token for its audience with the pod in extra", () => {
    const r = reviewToken(signer, signer.sign(claims()), ["podid-nmi"], live(), 1500);
    assert.equal(r.authenticated, true);
    if (!r.authenticated) return;
    assert.equal(r.user.username, "system:serviceaccount:team-a:app");
    assert.deepEqual(r.user.groups, [
      "system:serviceaccounts",
      "system:serviceaccounts:team-a",
      "system:authenticated",
    ]);
    assert.deepEqual(r.user.extra, { [EXTRA_POD_NAME]: ["p1"], [EXTRA_POD_UID]: ["pod-uid"] });
    assert.deepEqual(r.audiences, ["podid-nmi"]);
  });

  const refusals: Array<[string, string, string[], LiveObjects, number, RegExp]> = [
    [
      "another audience",
      signer.sign(claims()),
      ["other"],
      live(),
      1500,
      /token audiences \["podid-nmi"\] is invalid for the target audiences \["other"\]/,
    ],
    [
      "the API audience by default",
      signer.sign(claims()),
      [],
      live(),
      1500,
      new RegExp(API_AUDIENCE.replace(/\./g, "\\.")),
    ],
    ["expired", signer.sign(claims()), ["podid-nmi"], live(), 2000, /expired/],
    ["a pod recreated with the same name", signer.sign(claims()), ["podid-nmi"], live("new-uid"), 1500, /pod "p1"/],
    ["another signer", new TokenSigner().sign(claims()), ["podid-nmi"], live(), 1500, /invalid bearer token/],
    ["not a JWT", "abc", ["podid-nmi"], live(), 1500, /invalid bearer token/],
  ];
  for (const [name, token, aud, objs, now, msg] of refusals) {
    it(`refuses ${name}`, () => {
      const r = reviewToken(signer, token, aud, objs, now);
      assert.equal(r.authenticated, false);
      if (!r.authenticated) assert.match(r.error, msg);
    });
  }

  it("publishes its key as a JWKS", () => {
    const jwks = signer.jwks() as { keys: Array<{ kid: string; alg: string }> };
    assert.equal(jwks.keys[0]!.kid, signer.kid);
    assert.equal(jwks.keys[0]!.alg, "RS256");
  });
});
