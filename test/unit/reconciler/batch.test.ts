import assert from "node:assert/strict";
import { BatchTrigger, PerKeyBackoff } from "../../../src/reconciler/batch.ts";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("reconciler/batch: batching trigger", () => {
  it("a burst of kicks makes one run", async () => {
    let runs = 0;
    const t = new BatchTrigger(() => Promise.resolve(void runs++), {
      windowMs: 20,
      maxDelayMs: 1000,
      onError: () => {},
    });
    for (let i = 0; i < 50; i++) t.kick();
    await tick(80);
    assert.equal(runs, 1);
    await t.stop();
  });

  it("runs never overlap; a kick during a run makes exactly one more", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = new BatchTrigger(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        if (runs === 1) await gate;
        running--;
      },
      { windowMs: 5, maxDelayMs: 100, onError: () => {} },
    );
    t.kick();
    await tick(20);
    t.kick();
    await tick(20);
    t.kick();
    await tick(20);
    release();
    await tick(40);
    assert.equal(maxRunning, 1);
    assert.equal(runs, 2);
    await t.stop();
  });

  it("errors go to onError and do not stop later runs", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const t = new BatchTrigger(
      () => {
        runs++;
        return Promise.reject(new Error("boom"));
      },
      { windowMs: 1, maxDelayMs: 10, onError: (e) => errors.push(e) },
    );
    t.kick();
    await tick(20);
    t.kick();
    await tick(20);
    assert.equal(runs, 2);
    assert.equal(errors.length, 2);
    await t.stop();
  });

  it("wakeAt runs at the requested time, keeping the earliest", async () => {
    let runs = 0;
    const t = new BatchTrigger(() => Promise.resolve(void runs++), { windowMs: 1, maxDelayMs: 10, onError: () => {} });
    t.wakeAt(Date.now() + 10_000);
    t.wakeAt(Date.now() + 10);
    await tick(60);
    assert.equal(runs, 1);
    await t.stop();
  });
});

describe("reconciler/batch: per-target backoff", () => {
  it("honours Retry-After, grows on failures, resets on success, per key", () => {
    const b = new PerKeyBackoff(1000, 8000, () => 1);
    assert.equal(b.throttled("a", 5000, 0), 5000);
    assert.equal(b.until("a", 1000), 5000);
    assert.equal(b.until("b", 1000), undefined);
    assert.equal(b.failed("b", 0), 1000);
    assert.equal(b.failed("b", 0), 2000);
    assert.equal(b.failed("b", 0), 4000);
    assert.equal(b.failed("b", 0), 8000);
    assert.equal(b.failed("b", 0), 8000);
    b.succeeded("b");
    assert.equal(b.until("b", 0), undefined);
  });
});
