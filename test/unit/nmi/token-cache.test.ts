import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { TokenCache } from "../../../src/nmi/token-cache.ts";
import type { Token } from "../../../src/nmi/imds.ts";

const token = (expiresOn: number, n = 0): Token => ({ accessToken: `t${n}`, expiresOn, resource: "r" });

describe("nmi/token-cache", () => {
  it("makes one upstream call for a thousand concurrent cold requests", async () => {
    const cache = new TokenCache({ now: () => 0 });
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fetch = async (): Promise<Token> => {
      calls++;
      await gate;
      return token(3600);
    };
    const all = Array.from({ length: 1000 }, () => cache.get("k", fetch));
    release();
    const results = await Promise.all(all);
    assert.equal(calls, 1);
    assert.equal(results.filter((r) => r.outcome === "miss").length, 1);
    assert.ok(results.every((r) => r.token.accessToken === "t0"));
  });

  it("serves hits until the refresh point, then refreshes in the background while serving the old token", async () => {
    let now = 0;
    const cache = new TokenCache({ now: () => now, refreshAheadSeconds: 300 });
    let n = 0;
    const fetch = (): Promise<Token> => Promise.resolve(token(now + 3600, n++));
    assert.equal((await cache.get("k", fetch)).outcome, "miss");
    now = 3000;
    assert.equal((await cache.get("k", fetch)).outcome, "hit");
    now = 3400;
    const r = await cache.get("k", fetch);
    assert.equal(r.outcome, "stale-refresh");
    assert.equal(r.token.accessToken, "t0");
    await new Promise((res) => setImmediate(res));
    const after = await cache.get("k", fetch);
    assert.equal(after.token.accessToken, "t1");
    assert.equal(after.outcome, "hit");
  });

  it("fetches again after expiry and after an upstream error", async () => {
    let now = 0;
    const cache = new TokenCache({ now: () => now });
    await assert.rejects(
      cache.get("k", () => Promise.reject(new Error("upstream down"))),
      /upstream down/,
    );
    assert.equal(cache.size, 0);
    assert.equal((await cache.get("k", () => Promise.resolve(token(100)))).outcome, "miss");
    now = 200;
    assert.equal((await cache.get("k", () => Promise.resolve(token(4000, 2)))).token.accessToken, "t2");
  });

  it("keeps different keys apart, invalidates by prefix and stays within maxEntries", async () => {
    const cache = new TokenCache({ now: () => 0, maxEntries: 3 });
    for (const k of ["a|1", "a|2", "b|1", "c|1"]) await cache.get(k, () => Promise.resolve(token(3600)));
    assert.ok(cache.size <= 3);
    cache.invalidate("c|");
    assert.ok(cache.size <= 2);
  });
});
