// Property: whatever arrives (random and mutated token requests, from any source address,
// against pods with valid, missing and tampered admission marks, AzureIdentities that claim
// another team's ClientID, and exceptions a tenant made for itself), the NMI answers with a
// well-formed IMDS response and never hands a token to a caller that should get none: a
// token only ever goes to an admitted pod, and only for an identity its own AzureIdentity
// names by resource ID; only an exception a cluster admin allowed reaches the node's IMDS.
// Tokens here are what IMDS would hand out for the resource ID asked, so a token names the
// identity it really is, not what an AzureIdentity claims.
import { describe, it } from "mocha";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ADMISSION_MARK_ANNOTATION } from "../../../src/model/constants.ts";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import type { TokenProvider } from "../../../src/nmi/tokens.ts";
import { KEYS, NODE, admit, assigned, binding, identity, meta, pod, world } from "./fixtures.ts";

const READER = "11111111-1111-4111-8111-111111111111";
const WRITER = "22222222-2222-4222-8222-222222222222";
const B_ID = "33333333-3333-4333-8333-333333333333";
const C_RES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/c-id";
/** Who may get which identity's token: source IP → identity names (by resource ID). Everyone else gets none. */
const ENTITLED: Record<string, string[]> = {
  "127.10.0.5": ["reader"],
  "127.10.0.6": ["reader", "writer"],
  "127.10.0.7": ["b-id"],
  // team-c's AzureIdentity claims team-a's ClientID for its own resource ID: before the
  // reconciler catches it, the pod gets its own identity's token at most, never team-a's.
  "127.10.0.30": ["c-id"],
};
const EXCEPTED_IP = "127.10.0.8";

/** As IMDS answers by msi_res_id: the token is the identity the resource ID names. */
const tokens: TokenProvider = {
  getToken: (identity, resource) =>
    Promise.resolve({
      token: {
        accessToken: `tok:${identity.resourceID?.split("/").pop() ?? "?"}`,
        expiresOn: Date.now() / 1000 + 3600,
        resource,
      },
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
  // Spoofed ClientID: team-c's identity c-id claims reader's ClientID. One pod whose assignment
  // the reconciler marked Failed (ClientIDMismatch), one it has not judged yet (Assigned).
  const spoof = identity("c-id", "team-c", READER);
  v.ids.push(spoof);
  v.binds.push(binding("c-b", "team-c", "c-id", "c"));
  const caught = admit(v, pod("spoof-caught", "team-c", "127.10.0.31"), "c");
  const early = admit(v, pod("spoof-early", "team-c", "127.10.0.30"), "c");
  const failed = assigned(caught, spoof, "Failed");
  failed.status = { status: "Failed", reason: "ClientIDMismatch", message: "c-id is not reader" };
  v.pods.push(caught, early);
  v.aais.push(failed, assigned(early, spoof, "Assigned"));
  // An exception team-b wrote for itself: no policy allows exceptions in team-b.
  v.excs.push({ metadata: meta("mine", "team-b"), podLabels: { noaad: "true" } });
  v.pods.push(pod("self-excepted", "team-b", "127.10.0.25", { labels: { noaad: "true", aadpodidbinding: "b" } }));
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
  "127.10.0.25",
  "127.10.0.30",
  "127.10.0.31",
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
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/c-id",
  ),
  fc.string({ maxLength: 60 }),
);
const randomQuery = fc.record(
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
/** A request an SDK could send: valid envelope, at most one identity parameter, any of them. */
const plausibleQuery = fc
  .oneof(fc.constant({}), fc.record({ client_id: ids }), fc.record({ msi_res_id: resIds }))
  .map((q) => ({ "api-version": "2018-02-01", resource: "https://storage.azure.com", ...q }));
const randomHeaders = fc.record(
  {
    Metadata: fc.oneof(fc.constant("true"), fc.constant("True"), fc.constant("false"), fc.string({ maxLength: 6 })),
    "X-Forwarded-For": fc.constantFrom("127.10.0.5", "1.2.3.4"),
    "x-podid-pod-token": fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);
const randomPaths = fc.constantFrom(
  "/metadata/identity/oauth2/token",
  "/metadata/identity/oauth2/token/",
  "/metadata/instance",
  "/metadata/identity/oauth2/token//",
  "/METADATA/identity/oauth2/token",
  "/",
  "/metadata/identity/oauth2/token/../token",
);
const randomMethods = fc.constantFrom("GET", "GET", "GET", "POST", "PUT", "HEAD", "DELETE");
// Most runs are plausible requests (so every pod, forged or not, is really asked), the rest random.
const requests = fc.oneof(
  { weight: 1, arbitrary: fc.tuple(randomQuery, randomHeaders, randomPaths, randomMethods) },
  {
    weight: 2,
    arbitrary: fc.tuple(
      plausibleQuery,
      fc.constant({ Metadata: "true" }),
      fc.constantFrom("/metadata/identity/oauth2/token", "/metadata/identity/oauth2/token/"),
      fc.constant("GET"),
    ),
  },
);

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
      fc.asyncProperty(ips, requests, async (ip, [q, h, path, method]) => {
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
        const name = String(token).replace(/^tok:/, "");
        const who = ip.replace(/^::ffff:/, "");
        assert.ok(ENTITLED[who]?.includes(name), `token of ${name} given to ${ip}`);
        const sent = h as Record<string, string | undefined>;
        assert.equal(sent["X-Forwarded-For"], undefined);
        assert.equal(sent.Metadata?.toLowerCase(), "true");
      }),
      { numRuns: 10_000 },
    );
    await app.close();
  });
});

describe("nmi/app: the spoofed-ClientID attack, asked the ways SDKs ask", () => {
  const asks: Array<[string, Record<string, string>]> = [
    ["by the claimed client_id (ManagedIdentityCredential with AZURE_CLIENT_ID)", { client_id: READER }],
    ["by msi_res_id", { msi_res_id: C_RES }],
    ["naming nothing", {}],
  ];
  for (const [how, q] of asks)
    it(`${how}: never team-a's token; its own until the reconciler marks it Failed, then nothing`, async () => {
      const app = buildNmiApp({
        nodeName: NODE,
        view: buildWorld(),
        admissionKeys: () => KEYS,
        tokens,
        imds: { get: () => Promise.reject(new Error("not excepted")) },
        assignmentWaitMs: 0,
      });
      const get = (ip: string) =>
        app.inject({
          url: "/metadata/identity/oauth2/token",
          query: { "api-version": "2018-02-01", resource: "https://storage.azure.com", ...q },
          headers: { Metadata: "true" },
          remoteAddress: ip,
        });
      const early = await get("127.10.0.30");
      assert.equal(early.json<{ access_token: string }>().access_token, "tok:c-id");
      const caught = await get("127.10.0.31");
      assert.equal(caught.statusCode, 403);
      assert.match(caught.json<{ error_description: string }>().error_description, /ClientIDMismatch/);
      await app.close();
    });
});
