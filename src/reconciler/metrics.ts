// The reconciler's Prometheus metrics, on a registry of its own (two reconcilers in one test
// process must not share counters), and the /metrics endpoint.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { METRICS } from "../model/constants.ts";
import type { AssignedIdentityState } from "../model/types.ts";
import type { FederatedCredentialClient } from "./federated-client.ts";
import type { VmIdentityClient } from "./vm-client.ts";

export interface ReconcilerMetrics {
  registry: Registry;
  reconcileDuration: Histogram;
  armCalls: Counter<"operation" | "result">;
  assignmentLatency: Histogram;
  queueDepth: Gauge;
  isLeader: Gauge;
  /** By podid's own reason (InvalidIdentity, NodeNotOnAzure, MissingResourceID, ...): a fixed set. */
  assignmentFailures: Counter<"reason">;
  assigned: Gauge<"status">;
}

const STATES: readonly AssignedIdentityState[] = ["Created", "Assigned", "Failed"];

/**
 * `countAssigned` reads the AzureAssignedIdentities by status from the caches at scrape time
 * (every replica sees the same cluster; alerts take the max).
 */
export function createMetrics(
  registry = new Registry(),
  countAssigned: () => Partial<Record<AssignedIdentityState, number>> = () => ({}),
): ReconcilerMetrics {
  return {
    registry,
    reconcileDuration: new Histogram({
      name: METRICS.reconcileDuration,
      help: "Duration of one reconcile (desired state, Resource Manager writes, AzureAssignedIdentity updates)",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    armCalls: new Counter({
      name: METRICS.armRequests,
      help:
        "Resource Manager calls by operation (get, patch, get_scale_set; get_federated_credential, " +
        "put_federated_credential, delete_federated_credential) and result (success, throttled, conflict, " +
        "invalid_identity, not_found, error)",
      labelNames: ["operation", "result"],
      registers: [registry],
    }),
    assignmentLatency: new Histogram({
      name: METRICS.assignmentLatency,
      help: "Time from a pod being scheduled to its AzureAssignedIdentity becoming Assigned",
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: METRICS.reconcileQueueDepth,
      help: "Targets (VMs and scale sets) with work pending: waiting for the batch, a retry or a grace period",
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: METRICS.reconcilerLeader,
      help: "1 while this replica is the leader",
      registers: [registry],
    }),
    assignmentFailures: new Counter({
      name: METRICS.assignmentFailures,
      help: "AzureAssignedIdentities that became Failed, by reason (InvalidIdentity, NodeNotOnAzure, MissingResourceID, ...)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    assigned: new Gauge({
      name: METRICS.assignedIdentities,
      help: "AzureAssignedIdentities in the cluster by status (Created, Assigned, Failed)",
      labelNames: ["status"],
      registers: [registry],
      collect() {
        const counts = countAssigned();
        for (const status of STATES) this.set({ status }, counts[status] ?? 0);
      },
    }),
  };
}

function resultOf(e: unknown): string {
  const s = (e as { statusCode?: number }).statusCode;
  if (s === 429) return "throttled";
  if (s === 409) return "conflict";
  if (s === 404) return "not_found";
  if (s !== undefined && s >= 400 && s < 500) return "invalid_identity";
  return "error";
}

const counter =
  (m: ReconcilerMetrics) =>
  async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      const r = await fn();
      m.armCalls.inc({ operation, result: "success" });
      return r;
    } catch (e) {
      m.armCalls.inc({ operation, result: resultOf(e) });
      throw e;
    }
  };

/** Counts every Resource Manager call the client makes. */
export function instrumentClient(client: VmIdentityClient, m: ReconcilerMetrics): VmIdentityClient {
  const count = counter(m);
  return {
    getIdentities: (t) => count("get", () => client.getIdentities(t)),
    patchIdentities: (t, p) => count("patch", () => client.patchIdentities(t, p)),
    getOrchestrationMode: (s, rg, n) => count("get_scale_set", () => client.getOrchestrationMode(s, rg, n)),
  };
}

/** Counts federated identity credential calls in the same metric, each with an operation of its own. */
export function instrumentCredentials(
  client: FederatedCredentialClient,
  m: ReconcilerMetrics,
): FederatedCredentialClient {
  const count = counter(m);
  return {
    get: (id, name) => count("get_federated_credential", () => client.get(id, name)),
    put: (id, name, spec) => count("put_federated_credential", () => client.put(id, name, spec)),
    delete: (id, name) => count("delete_federated_credential", () => client.delete(id, name)),
  };
}

/**
 * Serves GET /metrics, /healthz and /readyz on host:port; port 0 picks a free one. /readyz is
 * 200 once `ready()` says so (every cache listed, every watch connected), 503 with the reason
 * before and whenever it stops being so.
 */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host = "0.0.0.0",
  ready: () => { ready: true } | { ready: false; reason: string } = () => ({ ready: true }),
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (path === "/readyz") {
      const r = ready();
      res.writeHead(r.ready ? 200 : 503, { "content-type": "text/plain" }).end(r.ready ? "ok" : r.reason);
      return;
    }
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
