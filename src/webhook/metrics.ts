// The webhook's Prometheus metrics, in a registry of its own (one per app, so tests can build
// many apps; main adds the process's default metrics).
import { Counter, Histogram, Registry } from "prom-client";

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<"route" | "result" | "reason">;
  duration: Histogram<"route">;
  badRequests: Counter<"route" | "status">;
}

export function createMetrics(registry = new Registry()): WebhookMetrics {
  return {
    registry,
    admissions: new Counter({
      name: "podid_webhook_admissions_total",
      help: "Admission reviews answered, by route, result (allowed, denied, patched, errored) and deciding rule",
      labelNames: ["route", "result", "reason"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "podid_webhook_admission_duration_seconds",
      help: "Time from a decoded review to its response",
      labelNames: ["route"],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    badRequests: new Counter({
      name: "podid_webhook_bad_requests_total",
      help: "Requests refused before a review could be decoded (not JSON, not an AdmissionReview, too large)",
      labelNames: ["route", "status"],
      registers: [registry],
    }),
  };
}
