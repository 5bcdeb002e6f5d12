import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { UpstreamLimiter } from "../../../src/nmi/limiter.ts";

describe("nmi/limiter", () => {
  it("never runs more than the concurrent limit nor starts more than the rate in any second", async () => {
    const limiter = new UpstreamLimiter({ perSecond: 8, concurrent: 3 });
    let active = 0;
    let maxActive = 0;
    const starts: number[] = [];
    const task = async (): Promise<number> => {
      active++;
      maxActive = Math.max(maxActive, active);
      starts.push(Date.now());
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return 1;
    };
    const results = await Promise.all(Array.from({ length: 12 }, () => limiter.run(task)));
    assert.equal(results.length, 12);
    assert.ok(maxActive <= 3, `max concurrent ${maxActive}`);
    for (const s of starts) {
      const inWindow = starts.filter((t) => t >= s && t < s + 1000).length;
      assert.ok(inWindow <= 8, `${inWindow} starts within one second`);
    }
  });

  it("passes errors through and frees the slot", async () => {
    const limiter = new UpstreamLimiter({ perSecond: 100, concurrent: 1 });
    await assert.rejects(
      limiter.run(() => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await limiter.run(() => Promise.resolve(7)), 7);
  });

  it("refuses a nonsensical configuration", () => {
    assert.throws(() => new UpstreamLimiter({ perSecond: 0, concurrent: 1 }), /perSecond/);
  });
});
