// The webhook's Prometheus metrics, in a registry of its own (one per app, so tests can build
// many apps; main adds the process's default metrics).
import { Counter, Histogram, Registry } from "prom-client";
import { METRICS } from "../model/constants.ts";

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<"route" | "result" | "reason">;
  duration: Histogram<"route">;
  badRequests: Counter<"route" | "status">;
}

/**
 * One route's metrics through label-bound children, made once per label set: prom-client hashes
 * the label object on every inc()/observe() otherwise, which under load costs more than the
 * admission decision does. Children are made on first use, so /metrics lists only series that
 * happened; the counters' label sets are few (results x rules), so the map stays small.
 */
export function routeMetrics(
  m: WebhookMetrics,
  route: string,
): {
  startTimer(): () => void;
  admitted(result: string, reason: string): void;
} {
  let duration: Histogram.Internal<"route"> | undefined;
  const counts = new Map<string, Counter.Internal>();
  return {
    startTimer: () => (duration ??= m.duration.labels({ route })).startTimer(),
    admitted(result, reason) {
      const key = `${result}\0${reason}`;
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
      name: METRICS.webhookAdmissions,
      help: "Admission reviews answered, by route, result (allowed, denied, patched, errored) and deciding rule",
      labelNames: ["route", "result", "reason"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: METRICS.webhookAdmissionDuration,
      help: "Time from a decoded review to its response",
      labelNames: ["route"],
      // Sub-millisecond where the webhook lives, up to the API server's 10 s timeout where an alert must see it.
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    badRequests: new Counter({
      name: METRICS.webhookBadRequests,
      help: "Requests refused before a review could be decoded (not JSON, not an AdmissionReview, too large)",
      labelNames: ["route", "status"],
      registers: [registry],
    }),
  };
}
