// The watch layer's health, against a real API server that goes away and comes back: a cache
// is healthy once listed, unhealthy from the watch failure on (still answering from what it
// saw), healthy again after its relist, and podid_kube_watch_healthy / _failures_total say so.
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { startInformerCache, type InformerCache, type ParseResult } from "../../../src/kube/cache.ts";
import { WatchHealthTracker, watchHealth } from "../../../src/kube/watch-health.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { registerWatchMetrics } from "../../../src/shared/metrics.ts";
import { privateRealCluster } from "../../helpers/real-cluster.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const parseName = (o: unknown): ParseResult<string> => ({
  ok: true,
  value: (o as { metadata?: { name?: string } }).metadata?.name ?? "",
});

async function metric(registry: Registry, name: string, resource: string): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values as Array<{ value: number; labels: Record<string, string> }> | undefined)?.find(
    (v) => v.labels.resource === resource,
  )?.value;
}

describe("watch health (src/kube/watch-health.ts) against a real API server", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let cache: InformerCache<string>;
  const registry = new Registry();
  registerWatchMetrics(registry);

  before(async () => {
    cp = await privateRealCluster({ controllerManager: false });
    cache = await startInformerCache(cp.kc, { group: "", version: "v1", plural: "namespaces", parse: parseName });
  });
  after(async () => {
    await cache?.stop();
    await cp?.stop();
  });

  it("is healthy once listed, and the gauge says 1", async () => {
    assert.equal(cache.healthy, true);
    assert.equal(await metric(registry, "podid_kube_watch_healthy", "namespaces"), 1);
  });

  it("turns unhealthy when the API server goes, keeps answering, and recovers after the relist", async () => {
    const failuresBefore = (await metric(registry, "podid_kube_watch_failures_total", "namespaces")) ?? 0;
    await cp.stopApiServer();
    await until("the watch to fail", () => !cache.healthy);
    assert.equal(await metric(registry, "podid_kube_watch_healthy", "namespaces"), 0);
    assert.ok(cache.get("default") !== undefined, "the cache still answers from what it saw");
    assert.ok(((await metric(registry, "podid_kube_watch_failures_total", "namespaces")) ?? 0) > failuresBefore);
    await cp.startApiServer();
    await until("the watch to recover", () => cache.healthy);
    assert.equal(await metric(registry, "podid_kube_watch_healthy", "namespaces"), 1);
  });

  it("reports a resource unhealthy while any of its watches is, and forgets stopped ones", () => {
    const t = new WatchHealthTracker();
    const a = t.track("pods");
    const b = t.track("pods");
    a.up();
    b.up();
    b.failed();
    assert.deepEqual(t.byResource(), [{ resource: "pods", healthy: false, failures: 1, relists: 0 }]);
    b.close();
    assert.deepEqual(t.byResource(), [{ resource: "pods", healthy: true, failures: 1, relists: 0 }]);
    assert.ok(watchHealth instanceof WatchHealthTracker);
  });
});
