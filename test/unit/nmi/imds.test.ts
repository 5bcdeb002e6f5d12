import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { isTokenPath, parseTokenRequest, tokenBody } from "../../../src/nmi/imds.ts";

const ok = { Metadata: "true" };
const q = { "api-version": "2018-02-01", resource: "https://storage.azure.com" };

describe("nmi/imds parseTokenRequest", () => {
  const refusals: Array<{
    name: string;
    query: Record<string, string | string[]>;
    headers: Record<string, string>;
    status: number;
    match: RegExp;
  }> = [
    { name: "missing Metadata header", query: q, headers: {}, status: 400, match: /metadata header/ },
    { name: "Metadata header not true", query: q, headers: { metadata: "yes" }, status: 400, match: /metadata header/ },
    {
      name: "X-Forwarded-For",
      query: q,
      headers: { ...ok, "x-forwarded-for": "10.0.0.1" },
      status: 400,
      match: /X-Forwarded-For/,
    },
    { name: "no api-version", query: { resource: "r" }, headers: ok, status: 400, match: /api-version/ },
    {
      name: "bad api-version",
      query: { ...q, "api-version": "latest" },
      headers: ok,
      status: 400,
      match: /api-version/,
    },
    { name: "no resource", query: { "api-version": "2018-02-01" }, headers: ok, status: 400, match: /resource/ },
    {
      name: "two identity parameters",
      query: { ...q, client_id: "a", msi_res_id: "b" },
      headers: ok,
      status: 400,
      match: /Only one/,
    },
    {
      name: "repeated client_id",
      query: { ...q, client_id: ["a", "b"] },
      headers: ok,
      status: 400,
      match: /at most once/,
    },
    {
      name: "overlong resource",
      query: { ...q, resource: "x".repeat(3000) },
      headers: ok,
      status: 400,
      match: /longer/,
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, () => {
      const r = parseTokenRequest(c.query, c.headers);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.status, c.status);
        assert.equal(r.error.error, "invalid_request");
        assert.match(r.error.description, c.match);
      }
    });
  }

  const accepted: Array<{ name: string; query: Record<string, string>; identity: unknown }> = [
    { name: "no identity", query: q, identity: { by: "none" } },
    { name: "client_id", query: { ...q, client_id: "abc" }, identity: { by: "client_id", value: "abc" } },
    { name: "object_id", query: { ...q, object_id: "o" }, identity: { by: "object_id", value: "o" } },
    { name: "msi_res_id", query: { ...q, msi_res_id: "/subs/x" }, identity: { by: "msi_res_id", value: "/subs/x" } },
    { name: "empty client_id counts as none", query: { ...q, client_id: "" }, identity: { by: "none" } },
  ];
  for (const c of accepted) {
    it(`accepts: ${c.name}`, () => {
      const r = parseTokenRequest(c.query, ok);
      assert.ok(r.ok);
      assert.deepEqual(r.value.identity, c.identity);
      assert.equal(r.value.resource, "https://storage.azure.com");
    });
  }

  it("knows the token path with and without trailing slash, nothing else", () => {
    assert.equal(isTokenPath("/metadata/identity/oauth2/token"), true);
    assert.equal(isTokenPath("/metadata/identity/oauth2/token/"), true);
    assert.equal(isTokenPath("/metadata/instance"), false);
  });

  it("answers in IMDS's shape with expires_on in epoch seconds", () => {
    const b = tokenBody({ accessToken: "t", expiresOn: 1000, resource: "r", clientId: "c" }, 400);
    assert.deepEqual(b, {
      access_token: "t",
      expires_in: "600",
      expires_on: "1000",
      ext_expires_in: "600",
      not_before: "400",
      resource: "r",
      token_type: "Bearer",
      client_id: "c",
    });
  });
});
