import assert from "node:assert/strict";
import { takeToken, type Bucket } from "../../../../src/playground/azure/throttle.ts";

describe("takeToken (compute write bucket)", () => {
  const cfg = { burst: 12, refillPerMinute: 4 };

  it("allows a burst of 12, then refuses with the wait for the next token", () => {
    let bucket: Bucket | undefined;
    for (let i = 0; i < 12; i++) {
      const r = takeToken(bucket, 0, cfg);
      assert.ok(r.allowed, `write ${i + 1}`);
      bucket = r.bucket;
    }
    const refused = takeToken(bucket, 0, cfg);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfterSeconds, 15);
    assert.equal(refused.bucket.measured, 13);
  });

  it("refills at 4 a minute", () => {
    let bucket: Bucket | undefined;
    for (let i = 0; i < 12; i++) bucket = takeToken(bucket, 0, cfg).bucket;
    assert.equal(takeToken(bucket, 14_000, cfg).allowed, false);
    const after = takeToken(bucket, 15_000, cfg);
    assert.equal(after.allowed, true);
    assert.equal(takeToken(after.bucket, 15_000, cfg).allowed, false);
  });

  it("never holds more than the burst", () => {
    const r = takeToken({ tokens: 12, updatedAt: 0, measured: 0, windowStart: 0 }, 3_600_000, cfg);
    assert.equal(r.bucket.tokens, 11);
  });

  it("asks for at least one second", () => {
    const r = takeToken({ tokens: 0.99, updatedAt: 0, measured: 5, windowStart: 0 }, 0, {
      burst: 12,
      refillPerMinute: 600,
    });
    assert.equal(r.allowed, false);
    assert.equal(r.retryAfterSeconds, 1);
  });
});
