// Fresh or nothing at the NMI's edge: when its view cannot vouch for what it holds (a watch
// broken and the pods not re-readable), a token request gets 503 with Retry-After, never an
// answer from the stale view, and /readyz says so.
import assert from "node:assert/strict";
import type { AzureIdentity } from "../../../src/model/types.ts";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import type { TokenProvider } from "../../../src/nmi/tokens.ts";
import { KEYS, NODE, world } from "./fixtures.ts";

const tokens: TokenProvider = {
  getToken: (identity: AzureIdentity, resource: string) =>
    Promise.resolve({
      token: { accessToken: `tok:${identity.clientID}`, expiresOn: Date.now() / 1000 + 3600, resource },
      outcome: "miss" as const,
    }),
};

describe("nmi: fresh or nothing", () => {
  const view = world();
  const app = buildNmiApp({
    nodeName: NODE,
    view,
    admissionKeys: () => KEYS,
    tokens,
    imds: { get: () => Promise.reject(new Error("not in this test")) },
    retryAfterSeconds: 7,
  });
  after(() => app.close());
  const ask = (ip: string) =>
    app.inject({
      method: "GET",
      url: "/metadata/identity/oauth2/token",
      query: { "api-version": "2018-02-01", resource: "https://vault.azure.net" },
      headers: { Metadata: "true" },
      remoteAddress: ip,
    });

  it("serves while the view vouches for itself", async () => {
    view.stale = undefined;
    const res = await ask("127.10.0.5");
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await app.inject({ url: "/readyz" })).statusCode, 200);
  });

  it("answers 503 with Retry-After, naming why, when it cannot", async () => {
    view.stale = "the watch of /api/v1/pods is broken";
    const res = await ask("127.10.0.5");
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers["retry-after"], "7");
    assert.match(res.json<{ error_description: string }>().error_description, /cannot vouch.*\/api\/v1\/pods/);
    const ready = await app.inject({ url: "/readyz" });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.body, /watch is broken/);
  });
});
