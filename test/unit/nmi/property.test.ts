// Property: whatever arrives (random and mutated token requests, from any source address,
// against pods with valid, missing and tampered admission marks), the NMI answers with a
// well-formed IMDS response and never hands a token to a caller that should get none: a
// token only ever goes to an admitted pod, and only for one of its own identities.
import { describe, it } from "mocha";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ADMISSION_MARK_ANNOTATION } from "../../../src/model/constants.ts";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import type { TokenProvider } from "../../../src/nmi/tokens.ts";
import { KEYS, NODE, pod, world } from "./fixtures.ts";

const READER = "11111111-1111-4111-8111-111111111111";
const WRITER = "22222222-2222-4222-8222-222222222222";
const B_ID = "33333333-3333-4333-8333-333333333333";
/** Who may get which token: source IP → client IDs. Everyone else gets none. */
const ENTITLED: Record<string, string[]> = {
  "127.10.0.5": [READER],
  "127.10.0.6": [READER, WRITER],
  "127.10.0.7": [B_ID],
};
const EXCEPTED_IP = "127.10.0.8";

const tokens: TokenProvider = {
  getToken: (identity, resource) =>
    Promise.resolve({
      token: { accessToken: `tok:${identity.clientID}`, expiresOn: Date.now() / 1000 + 3600, resource },
      outcome: "hit" as const,
    }),
};

function buildWorld() {
  const v = world();
  // Pods that must never get a token: a forged mark, a mark copied across namespaces, a
  // mark of another selector, and a tampered copy of a valid mark.
  const appMark = v.pod("team-a", "app")!.annotations[ADMISSION_MARK_ANNOTATION]!;
  const otherMark = v.pod("team-b", "other")!.annotations[ADMISSION_MARK_ANNOTATION]!;
  v.pods.push(
    pod("forged", "team-a", "127.10.0.20", {
      labels: { aadpodidbinding: "reader" },
      annotations: { [ADMISSION_MARK_ANNOTATION]: "v1.k.AAAA" },
    }),
    pod("copied", "team-a", "127.10.0.21", {
      labels: { aadpodidbinding: "b" },
      annotations: { [ADMISSION_MARK_ANNOTATION]: otherMark },
    }),
    pod("relabel", "team-a", "127.10.0.22", {
      labels: { aadpodidbinding: "two" },
      annotations: { [ADMISSION_MARK_ANNOTATION]: appMark },
    }),
    pod("tampered", "team-a", "127.10.0.23", {
      labels: { aadpodidbinding: "reader" },
      annotations: { [ADMISSION_MARK_ANNOTATION]: appMark.slice(0, -2) + (appMark.endsWith("A") ? "BB" : "AA") },
    }),
    pod("sa", "team-a", "127.10.0.24", {
      serviceAccountName: "other",
      labels: { aadpodidbinding: "reader" },
      annotations: { [ADMISSION_MARK_ANNOTATION]: appMark },
    }),
  );
  return v;
}

const ips = fc.constantFrom(
  "127.10.0.5",
  "127.10.0.6",
  "127.10.0.7",
  EXCEPTED_IP,
  "127.10.0.20",
  "127.10.0.21",
  "127.10.0.22",
  "127.10.0.23",
  "127.10.0.24",
  "127.20.0.1",
  "127.10.0.99",
  "::1",
  "::ffff:127.10.0.5",
);
const ids = fc.oneof(fc.constantFrom(READER, WRITER, B_ID, READER.toUpperCase(), ""), fc.string({ maxLength: 40 }));
const resIds = fc.oneof(
  fc.constantFrom(
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader",
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/writer",
  ),
  fc.string({ maxLength: 60 }),
);
const query = fc.record(
  {
    "api-version": fc.oneof(fc.constant("2018-02-01"), fc.constant("2019-08-01"), fc.string({ maxLength: 12 })),
    resource: fc.oneof(
      fc.constant("https://storage.azure.com"),
      fc.constant("https://management.azure.com/"),
      fc.string({ maxLength: 30 }),
    ),
    client_id: ids,
    object_id: fc.string({ maxLength: 10 }),
    msi_res_id: resIds,
    extra: fc.string({ maxLength: 10 }),
  },
  { requiredKeys: [] },
);
const headers = fc.record(
  {
    Metadata: fc.oneof(fc.constant("true"), fc.constant("True"), fc.constant("false"), fc.string({ maxLength: 6 })),
    "X-Forwarded-For": fc.constantFrom("127.10.0.5", "1.2.3.4"),
    "x-podid-pod-token": fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);
const paths = fc.constantFrom(
  "/metadata/identity/oauth2/token",
  "/metadata/identity/oauth2/token/",
  "/metadata/instance",
  "/metadata/identity/oauth2/token//",
  "/METADATA/identity/oauth2/token",
  "/",
  "/metadata/identity/oauth2/token/../token",
);
const methods = fc.constantFrom("GET", "GET", "GET", "POST", "PUT", "HEAD", "DELETE");

describe("nmi/app property: no token to anyone who should get none", function () {
  this.timeout(120_000);
  it("holds for 10,000 random and mutated requests", async () => {
    const app = buildNmiApp({
      nodeName: NODE,
      view: buildWorld(),
      admissionKeys: () => KEYS,
      tokens,
      imds: {
        get: () => Promise.resolve({ status: 200, headers: {}, body: JSON.stringify({ access_token: "node-token" }) }),
      },
      reviewToken: () => Promise.resolve({ authenticated: false, error: "not a token" }),
      assignmentWaitMs: 0,
    });
    await fc.assert(
      fc.asyncProperty(ips, query, headers, paths, methods, async (ip, q, h, path, method) => {
        const res = await app.inject({
          method: method as "GET",
          url: path,
          query: q as Record<string, string>,
          headers: h as Record<string, string>,
          remoteAddress: ip,
        });
        assert.ok(res.statusCode >= 200 && res.statusCode < 600, `status ${res.statusCode}`);
        if (method === "HEAD") return;
        let body: Record<string, unknown> = {};
        if (res.body !== "") body = JSON.parse(res.body) as Record<string, unknown>;
        if (res.statusCode !== 200) {
          assert.equal(body.access_token, undefined);
          return;
        }
        const token = body.access_token;
        if (token === "node-token") {
          // Only the excepted pod is passed to the node's IMDS.
          assert.equal(ip, EXCEPTED_IP, `node token to ${ip}`);
          return;
        }
        const clientId = String(token).replace(/^tok:/, "");
        const who = ip.replace(/^::ffff:/, "");
        assert.ok(ENTITLED[who]?.includes(clientId), `token for ${clientId} given to ${ip}`);
        assert.equal(h["X-Forwarded-For"], undefined);
        assert.equal(h.Metadata?.toLowerCase(), "true");
      }),
      { numRuns: 10_000 },
    );
    await app.close();
  });
});
