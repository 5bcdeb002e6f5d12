// The webhook's Prometheus metrics, in a registry of its own (one per app, so tests can build
// many apps; main adds the process's default metrics).
import { Counter, Histogram, Registry } from "prom-client";

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<"route" | "result" | "reason">;
  duration: Histogram<"route">;
  badRequests: Counter<"route" | "status">;
}

/**
 * Label-bound children, made once per label set: prom-client hashes the label object on every
 * inc()/observe() otherwise, which under load costs more than the admission decision does.
 * The label sets are few (routes x results x rules), so the map stays small.
 */
export function metricsRecorder(m: WebhookMetrics): {
  timer(route: string): () => void;
  admitted(route: string, result: string, reason: string): void;
} {
  const timers = new Map<string, Histogram.Internal<"route">>();
  const counts = new Map<string, Counter.Internal>();
  return {
    timer(route) {
      let h = timers.get(route);
      if (h === undefined) timers.set(route, (h = m.duration.labels({ route })));
      return h.startTimer();
    },
    admitted(route, result, reason) {
      const key = `${route}\0${result}\0${reason}`;
      let c = counts.get(key);
      if (c === undefined) counts.set(key, (c = m.admissions.labels({ route, result, reason })));
      c.inc();
    },
  };
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
