// Wiring: the informers (src/kube's watch layer), the Resource Manager client, leader election, the batching trigger
// and the metrics endpoint around the Controller. `podid reconciler` (main.ts) parses flags and
// calls runReconciler; integration tests call it directly.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { LABELLED_PODS_SELECTOR, RECONCILER } from "../model/constants.ts";
import { compactAssigned } from "../model/intern.ts";
import { parseAzureAssignedIdentity } from "../model/parse.ts";
import type { AssignedIdentityState, Parsed } from "../model/types.ts";
import { startInformers } from "../kube/informers.ts";
import { core, podidKind } from "../kube/resources.ts";
import { createEventRecorder, type EventRecorder } from "../kube/events.ts";
import { startLeaderElection, type LeaderElector } from "../kube/leader-election.ts";
import type { Logger } from "../shared/log.ts";
import { registerCommonMetrics } from "../shared/metrics.ts";
import { kubeAssignedIdentityWriter } from "./assigned-writer.ts";
import { BatchTrigger } from "./batch.ts";
import { Controller, type ReconcileResult } from "./controller.ts";
import { parseNamespace, parseNode, parsePod } from "./kube-objects.ts";
import {
  createMetrics,
  instrumentClient,
  instrumentCredentials,
  startMetricsServer,
  type ReconcilerMetrics,
} from "./metrics.ts";
import type { FederatedCredentialClient } from "./federated-client.ts";
import type { FederationSettings } from "./federation.ts";
import { createConfigMapOwnershipStore } from "./records.ts";
import type { ManagedIdentityReader } from "./identity-reader.ts";
import type { VmIdentityClient } from "./vm-client.ts";
import type { TokenSourceName } from "../model/constants.ts";

export interface ReconcilerSettings {
  /** podid's namespace: the Lease and the ownership records live there. */
  namespace: string;
  leaderElect: boolean;
  /** Unique per replica; default hostname + random suffix. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  batchWindowMs: number;
  graceMs: number;
  armCacheMs: number;
  resyncMs: number;
  invalidRetryMs: number;
  /** undefined: no metrics endpoint; 0: any free port. */
  metricsPort?: number;
  metricsHost?: string;
  /** Token source of identities that choose none (default FEDERATION.defaultTokenSource). */
  defaultTokenSource?: TokenSourceName;
  /** Issuer and manage flag; the namespace is `namespace`. Undefined: federation not configured. */
  federation?: Omit<FederationSettings, "podidNamespace">;
  /** Why federation is not configured, for the Failed statuses of Federated identities. */
  federationUnavailable?: string;
  /** How soon a credential that needs a person is read again (default 30 s). */
  credentialRecheckMs?: number;
}

/** The Resource Manager clients the reconciler uses besides compute. */
export interface ReconcilerArmClients {
  /** Reads a managed identity's client ID (@azure/arm-msi). */
  identities: ManagedIdentityReader;
  /** Federated identity credentials (@azure/arm-msi); needed when `settings.federation` is set. */
  credentials?: FederatedCredentialClient;
}

export interface RunningReconciler {
  isLeader(): boolean;
  metrics: ReconcilerMetrics;
  metricsPort?: number;
  /** Resolves after the next reconcile that starts from now has finished (tests, benchmarks). */
  nextReconcile(): Promise<ReconcileResult>;
  /** Stops; `release: false` simulates a crash (the Lease is left to expire). */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/**
 * The reconciler's informers. Pods: only those labelled `aadpodidbinding` cross the wire (no
 * other pod can need an identity), each kept as the slim projection the decisions read.
 */
function informers() {
  return {
    pods: core("pods", parsePod, { labelSelector: LABELLED_PODS_SELECTOR }),
    nodes: core("nodes", parseNode),
    namespaces: core("namespaces", parseNamespace),
    identities: podidKind("AzureIdentity"),
    bindings: podidKind("AzureIdentityBinding"),
    exceptions: podidKind("AzurePodIdentityException"),
    policies: podidKind("AzurePodIdentityPolicy"),
    assigned: podidKind("AzureAssignedIdentity", { parse: compact(parseAzureAssignedIdentity, compactAssigned) }),
  };
}

const compact =
  <T>(parse: (o: unknown) => Parsed<T>, fn: (v: T) => T) =>
  (o: unknown): Parsed<T> => {
    const p = parse(o);
    return p.ok ? { ok: true, value: fn(p.value) } : p;
  };

type Informers = Awaited<ReturnType<typeof startReconcilerInformers>>;

function startReconcilerInformers(kc: KubeConfig, log: Logger, resyncMs: number) {
  return startInformers(kc, informers(), {
    resyncMs,
    onError: (resource, err) => log.warn({ err, resource }, "watch failed; restarting"),
  });
}

function countByStatus(assigned: ReadonlyArray<{ status?: { status: AssignedIdentityState } }>) {
  const counts: Partial<Record<AssignedIdentityState, number>> = {};
  for (const a of assigned) {
    const st = a.status?.status ?? "Created";
    counts[st] = (counts[st] ?? 0) + 1;
  }
  return counts;
}

/**
 * Ready once every informer has listed, as the webhook's and the NMI's /readyz are; a watch that
 * breaks later shows in podid_kube_watch_healthy (readiness flapping with the API server would
 * only stall rollouts).
 */
function readiness(set: Informers | undefined): { ready: true } | { ready: false; reason: string } {
  if (set === undefined) return { ready: false, reason: "caches not synced yet" };
  const waiting = set
    .health()
    .filter((h) => !h.synced)
    .map((h) => h.name);
  return waiting.length === 0 ? { ready: true } : { ready: false, reason: `caches not synced: ${waiting.join(", ")}` };
}

/**
 * Which changes can alter desired state. The informers already drop events whose projection
 * did not change (a pod's status heartbeat, a node's conditions: a node's projection is its
 * providerID); of the reconciler's own AzureAssignedIdentity writes, only a delete (by a user
 * or the garbage collector) needs another look.
 */
function subscribe(set: Informers, kick: () => void): () => void {
  const c = set.caches;
  const offs = [
    c.assigned.on((ch) => {
      if (ch.event === "delete") kick();
    }),
    ...[c.pods, c.nodes, c.namespaces, c.identities, c.bindings, c.exceptions, c.policies].map((x) =>
      x.on(() => kick()),
    ),
    set.onResync(kick),
  ];
  return () => offs.forEach((off) => off());
}

/** What leading needs: the informers, Resource Manager, events and metrics of this replica. */
interface Wiring {
  kc: KubeConfig;
  set: Informers;
  arm: VmIdentityClient;
  identities: ManagedIdentityReader;
  credentials: FederatedCredentialClient | undefined;
  events: EventRecorder;
  metrics: ReconcilerMetrics;
  settings: ReconcilerSettings;
  log: Logger;
  identity: string;
  /** Called with each reconcile's result (nextReconcile). */
  reconciled: (r: ReconcileResult) => void;
}

/** A controller and its batching trigger, for one term of leadership. */
function lead(w: Wiring, signal: AbortSignal): BatchTrigger {
  const { settings, log } = w;
  let trigger: BatchTrigger | undefined = undefined;
  const controller = new Controller({
    sources: w.set.caches,
    arm: w.arm,
    identities: w.identities,
    ...(w.credentials !== undefined ? { credentials: w.credentials } : {}),
    records: createConfigMapOwnershipStore(w.kc, settings.namespace, (error) =>
      log.warn({ error }, "ignoring an invalid ownership record"),
    ),
    assigned: kubeAssignedIdentityWriter(w.kc),
    events: w.events,
    metrics: w.metrics,
    log,
    options: {
      graceMs: settings.graceMs,
      armCacheMs: settings.armCacheMs,
      invalidRetryMs: settings.invalidRetryMs,
      ...(settings.defaultTokenSource !== undefined ? { defaultTokenSource: settings.defaultTokenSource } : {}),
      ...(settings.federation !== undefined
        ? { federation: { ...settings.federation, podidNamespace: settings.namespace } }
        : {}),
      ...(settings.federationUnavailable !== undefined
        ? { federationUnavailable: settings.federationUnavailable }
        : {}),
      ...(settings.credentialRecheckMs !== undefined ? { credentialRecheckMs: settings.credentialRecheckMs } : {}),
    },
    wakeAt: (at) => trigger?.wakeAt(at),
    signal,
  });
  trigger = new BatchTrigger(
    async () => {
      const r = await controller.reconcile();
      log.debug(r, "reconciled");
      w.reconciled(r);
    },
    {
      windowMs: settings.batchWindowMs,
      maxDelayMs: Math.max(settings.batchWindowMs * 10, 5_000),
      onError: (err) => log.error({ err }, "reconcile failed; retrying"),
    },
  );
  return trigger;
}

/** Starts and stops terms of leadership; a new term waits for the last one's run to end. */
function leadership(w: Wiring) {
  let active: { trigger: BatchTrigger; off: () => void } | undefined;
  let stopping: Promise<void> = Promise.resolve();
  const stop = (): Promise<void> => {
    const a = active;
    active = undefined;
    w.metrics.isLeader.set(0);
    if (a !== undefined) {
      w.log.info({ identity: w.identity }, "stopped leading");
      a.off();
      // Whoever asks next (stop(), or the next leadership) waits for the run in progress.
      stopping = Promise.all([stopping, a.trigger.stop()]).then(() => undefined);
    }
    return stopping;
  };
  const start = (signal: AbortSignal): void => {
    w.log.info({ identity: w.identity }, "leading: reconciling");
    w.metrics.isLeader.set(1);
    const t = lead(w, signal);
    active = { trigger: t, off: subscribe(w.set, () => t.kick()) };
    t.kick();
    signal.addEventListener("abort", () => void stop());
  };
  return { start, stop, trigger: () => active?.trigger };
}

function elect(w: Wiring, onStartedLeading: (signal: AbortSignal) => void): LeaderElector | undefined {
  const { settings } = w;
  if (!settings.leaderElect) {
    onStartedLeading(new AbortController().signal);
    return undefined;
  }
  return startLeaderElection(w.kc, {
    namespace: settings.namespace,
    name: RECONCILER.leaseName,
    identity: w.identity,
    leaseDurationMs: settings.leaseDurationMs,
    renewDeadlineMs: settings.renewDeadlineMs,
    retryPeriodMs: settings.retryPeriodMs,
    onStartedLeading,
    onError: (err) => w.log.warn({ err }, "leader election"),
  });
}

export async function runReconciler(
  kc: KubeConfig,
  arm: VmIdentityClient,
  settings: ReconcilerSettings,
  log: Logger,
  clients: ManagedIdentityReader | ReconcilerArmClients,
): Promise<RunningReconciler> {
  const { identities, credentials } =
    "getClientId" in clients ? { identities: clients, credentials: undefined } : clients;
  if (settings.federation !== undefined && credentials === undefined)
    throw new Error("runReconciler: settings.federation needs a federated identity credential client");
  let started: Informers | undefined;
  const metrics = createMetrics(new Registry(), () => countByStatus(started?.caches.assigned.list() ?? []));
  registerCommonMetrics(metrics.registry);
  const identity = settings.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
  // Listening before the informers list, so /healthz answers and /readyz says what it waits for.
  const server =
    settings.metricsPort !== undefined
      ? await startMetricsServer(metrics.registry, settings.metricsPort, settings.metricsHost, () => readiness(started))
      : undefined;
  let set: Informers;
  try {
    set = started = await startReconcilerInformers(kc, log, settings.resyncMs);
  } catch (e) {
    await server?.close();
    throw e;
  }
  const events = createEventRecorder(kc, {
    component: "podid-reconciler",
    instance: identity,
    onError: (err) => log.debug({ err }, "event not recorded"),
  });
  const waiters: Array<(r: ReconcileResult) => void> = [];
  const w: Wiring = {
    kc,
    set,
    arm: instrumentClient(arm, metrics),
    identities,
    credentials: credentials !== undefined ? instrumentCredentials(credentials, metrics) : undefined,
    events,
    metrics,
    settings,
    log,
    identity,
    reconciled: (r) => waiters.splice(0).forEach((cb) => cb(r)),
  };
  const terms = leadership(w);
  const elector = elect(w, terms.start);
  return {
    isLeader: () => terms.trigger() !== undefined,
    metrics,
    ...(server !== undefined ? { metricsPort: server.port } : {}),
    nextReconcile: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        terms.trigger()?.kick();
      }),
    async stop({ release = true } = {}) {
      if (elector !== undefined) await elector.stop({ release });
      await terms.stop();
      await events.flush();
      await set.stop();
      await server?.close();
    },
  };
}
