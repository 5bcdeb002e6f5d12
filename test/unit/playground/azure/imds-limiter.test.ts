import assert from "node:assert/strict";
import { ImdsLimiter } from "../../../../src/playground/azure/imds-limiter.ts";

describe("ImdsLimiter", () => {
  it("allows 20 requests in a second, then refuses until the window moves", () => {
    const l = new ImdsLimiter(20, 5);
    for (let i = 0; i < 20; i++) {
      assert.ok(l.tryAcquire(i * 10), `request ${i + 1}`);
      l.release();
    }
    assert.equal(l.tryAcquire(500), false);
    assert.ok(l.tryAcquire(1001));
  });

  it("allows 5 at the same time", () => {
    const l = new ImdsLimiter(20, 5);
    for (let i = 0; i < 5; i++) assert.ok(l.tryAcquire(0));
    assert.equal(l.tryAcquire(0), false);
    l.release();
    assert.ok(l.tryAcquire(0));
  });
});
