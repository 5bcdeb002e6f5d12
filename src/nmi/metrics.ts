// The NMI's Prometheus metrics, in a registry of its own. Labels are small fixed sets
// (result, outcome): never a token, a pod name or an identity, so cardinality stays bounded
// and nothing secret can leak through a label.
import { Counter, Histogram, Registry } from "prom-client";
import { METRICS } from "../model/constants.ts";

export interface NmiMetrics {
  registry: Registry;
  requests: Counter<"result" | "code">;
  upstream: Counter<"kind" | "outcome">;
  cache: Counter<"outcome">;
  latency: Histogram<"result">;
  staleTokens: Counter;
}

export function createNmiMetrics(registry = new Registry()): NmiMetrics {
  return {
    registry,
    requests: new Counter({
      name: METRICS.nmiRequests,
      help: "Token requests by result (token, proxied, refused, unavailable, error) and HTTP status code",
      labelNames: ["result", "code"],
      registers: [registry],
    }),
    upstream: new Counter({
      name: METRICS.nmiUpstreamCalls,
      help: "Calls to IMDS (kind imds-token, imds-proxy; outcome the HTTP status or error) and Entra ID (kind entra for service principals, entra-federated for federated identities; outcome ok or error)",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    cache: new Counter({
      name: METRICS.nmiTokenCache,
      help: "Token cache lookups by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: METRICS.nmiRequestDuration,
      help: "Time to answer a token request",
      labelNames: ["result"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    staleTokens: new Counter({
      name: METRICS.nmiTokensServedStale,
      help: "Tokens served while one of the NMI's watches was broken: the pods, bindings or assignments it decided on may be out of date",
      registers: [registry],
    }),
  };
}

export interface SidecarMetrics {
  registry: Registry;
  requests: Counter<"result" | "code">;
  latency: Histogram<"result">;
}

/** The sidecar forwards and decides nothing: what it forwarded, and what it could not. */
export function createSidecarMetrics(registry = new Registry()): SidecarMetrics {
  return {
    registry,
    requests: new Counter({
      name: METRICS.sidecarRequests,
      help: "Requests the sidecar handled, by result (forwarded, token_unreadable, node_unreachable) and HTTP status code",
      labelNames: ["result", "code"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: METRICS.sidecarRequestDuration,
      help: "Time to answer a request, the node NMI's answer included",
      labelNames: ["result"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60],
      registers: [registry],
    }),
  };
}
