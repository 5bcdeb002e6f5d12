// The reconciler's /metrics, /healthz and /readyz: readiness waits for the caches and says
// what it waits for; health answers from the start; anything else is 404.
import assert from "node:assert/strict";
import { createMetrics, startMetricsServer } from "../../../src/reconciler/metrics.ts";

describe("reconciler metrics server", () => {
  it("answers /healthz at once, /readyz 503 with the reason until ready, then 200; counts assignments by status", async () => {
    let ready: { ready: true } | { ready: false; reason: string } = { ready: false, reason: "caches not synced yet" };
    const m = createMetrics(undefined, () => ({ Assigned: 3, Failed: 1 }));
    const server = await startMetricsServer(m.registry, 0, "127.0.0.1", () => ready);
    const base = `http://127.0.0.1:${server.port}`;
    try {
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const notYet = await fetch(`${base}/readyz`);
      assert.deepEqual([notYet.status, await notYet.text()], [503, "caches not synced yet"]);
      ready = { ready: true };
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /^podid_assigned_identities\{status="Assigned"\} 3$/m);
      assert.match(text, /^podid_assigned_identities\{status="Created"\} 0$/m);
      assert.match(text, /^podid_assigned_identities\{status="Failed"\} 1$/m);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
