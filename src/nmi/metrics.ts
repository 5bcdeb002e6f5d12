// The NMI's Prometheus metrics, in a registry of its own. Labels are small fixed sets
// (result, outcome): never a token, a pod name or an identity, so cardinality stays bounded
// and nothing secret can leak through a label.
import { Counter, Histogram, Registry } from "prom-client";

export interface NmiMetrics {
  registry: Registry;
  requests: Counter<"result" | "code">;
  upstream: Counter<"kind" | "outcome">;
  cache: Counter<"outcome">;
  latency: Histogram<"result">;
}

export function createNmiMetrics(): NmiMetrics {
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: "podid_nmi_requests_total",
      help: "Token requests by result",
      labelNames: ["result", "code"],
      registers: [registry],
    }),
    upstream: new Counter({
      name: "podid_nmi_upstream_calls_total",
      help: "Calls to IMDS and Entra ID",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    cache: new Counter({
      name: "podid_nmi_token_cache_total",
      help: "Token cache lookups by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "podid_nmi_request_duration_seconds",
      help: "Time to answer a token request",
      labelNames: ["result"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}
