// What every podid program's /metrics carries besides its own metrics: the process and Node.js
// metrics under their standard names (process_*, nodejs_*, as dashboards for Node.js services
// expect them; Prometheus's job label tells the programs apart), and the health of the
// program's watches. prom-client names three gauges like counters (nodejs_active_handles_total
// and the like, which `promtool check metrics` rejects); their per-type twins without the
// suffix carry the same counts, so those three are dropped.
import Fastify, { type FastifyInstance } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, type Registry } from "prom-client";
import { watchHealth } from "../kube/watch-health.ts";
import { METRICS } from "../model/constants.ts";

const MISNAMED_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
}

/** podid_kube_watch_healthy, _failures_total and _relists_total, read from the watch layer at scrape time. */
export function registerWatchMetrics(registry: Registry, health = watchHealth): void {
  new Gauge({
    name: METRICS.watchHealthy,
    help: "1 while every list-watch of this resource is connected; 0 from a watch failure until its relist succeeds",
    labelNames: ["resource"],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of health.byResource()) this.set({ resource: w.resource }, w.healthy ? 1 : 0);
    },
  });
  new Counter({
    name: METRICS.watchFailures,
    help: "List-watch failures (the watch ended with an error and is restarted with backoff), by resource",
    labelNames: ["resource"],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of health.byResource()) this.inc({ resource: w.resource }, w.failures);
    },
  });
  new Counter({
    name: METRICS.watchRelists,
    help: "Relists after 410 Gone (the watch's resourceVersion older than the API server's history), by resource",
    labelNames: ["resource"],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of health.byResource()) this.inc({ resource: w.resource }, w.relists);
    },
  });
}

/** Both of the above: what main() of every program registers next to its own metrics. */
export function registerCommonMetrics(registry: Registry): void {
  registerProcessMetrics(registry);
  registerWatchMetrics(registry);
}

/** A listener with /metrics and /healthz only, for a program whose main port must stay private. */
export async function serveMetricsOnly(
  registry: Registry,
  port: number,
  host = "0.0.0.0",
): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false });
  app.get("/healthz", (_req, reply) => reply.send({ status: "ok" }));
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", registry.contentType).send(await registry.metrics()),
  );
  const url = await app.listen({ host, port });
  return { app, url };
}
