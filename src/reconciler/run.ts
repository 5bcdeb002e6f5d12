// Wiring: informer caches, the Resource Manager client, leader election, the batching trigger
// and the metrics endpoint around the Controller. `podid reconciler` (main.ts) parses flags and
// calls runReconciler; integration tests call it directly.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { BINDING_LABEL, GROUP, KINDS, RECONCILER, VERSION } from "../model/constants.ts";
import type { AssignedIdentityState } from "../model/types.ts";
import {
  parseAzureAssignedIdentity,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { startInformerCache, type InformerCache } from "../kube/cache.ts";
import { createEventRecorder } from "../kube/events.ts";
import { startLeaderElection, type LeaderElector } from "../kube/leader-election.ts";
import type { Logger } from "../shared/log.ts";
import { registerCommonMetrics } from "../shared/metrics.ts";
import { kubeAssignedIdentityWriter } from "./assigned-writer.ts";
import { BatchTrigger } from "./batch.ts";
import { Controller, type ReconcileResult, type Sources } from "./controller.ts";
import { parseNamespace, parseNode, parsePod } from "./kube-objects.ts";
import { createMetrics, instrumentClient, startMetricsServer, type ReconcilerMetrics } from "./metrics.ts";
import { createConfigMapOwnershipStore } from "./records.ts";
import type { ManagedIdentityReader } from "./identity-reader.ts";
import type { VmIdentityClient } from "./vm-client.ts";

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

type Caches = { [K in keyof Sources]: InformerCache<ReturnType<Sources[K]["list"]>[number]> };

async function startCaches(kc: KubeConfig, log: Logger): Promise<Caches> {
  const onError = (err: unknown): void => log.warn({ err }, "watch failed; restarting");
  const crd = <T>(
    kind: keyof typeof KINDS,
    parse: (o: unknown) => { ok: true; value: T } | { ok: false; errors: Array<{ field: string; message: string }> },
  ) => startInformerCache(kc, { group: GROUP, version: VERSION, plural: KINDS[kind].plural, parse, onError });
  const [pods, nodes, namespaces, identities, bindings, exceptions, policies, assigned] = await Promise.all([
    startInformerCache(kc, { group: "", version: "v1", plural: "pods", parse: parsePod, onError }),
    startInformerCache(kc, { group: "", version: "v1", plural: "nodes", parse: parseNode, onError }),
    startInformerCache(kc, { group: "", version: "v1", plural: "namespaces", parse: parseNamespace, onError }),
    crd("AzureIdentity", parseAzureIdentity),
    crd("AzureIdentityBinding", parseAzureIdentityBinding),
    crd("AzurePodIdentityException", parseAzurePodIdentityException),
    crd("AzurePodIdentityPolicy", parseAzurePodIdentityPolicy),
    crd("AzureAssignedIdentity", parseAzureAssignedIdentity),
  ]);
  return { pods, nodes, namespaces, identities, bindings, exceptions, policies, assigned };
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
 * Ready once every cache has listed, as the webhook's and the NMI's /readyz are; a watch that
 * breaks later shows in podid_kube_watch_healthy (readiness flapping with the API server would
 * only stall rollouts).
 */
function readiness(caches: Caches | undefined): { ready: true } | { ready: false; reason: string } {
  if (caches === undefined) return { ready: false, reason: "caches not synced yet" };
  const waiting = Object.entries(caches)
    .filter(([, c]: [string, InformerCache<unknown>]) => !c.synced)
    .map(([name]) => name);
  return waiting.length === 0 ? { ready: true } : { ready: false, reason: `caches not synced: ${waiting.join(", ")}` };
}

/** Which cache events can change desired state; the rest (node heartbeats, our own writes) do not kick. */
function subscribe(c: Caches, kick: () => void): () => void {
  const labelled = new Set<string>();
  const providerIDs = new Map<string, string | undefined>();
  const offs = [
    c.pods.on((event, value, raw) => {
      const key = `${raw.metadata?.namespace ?? ""}/${raw.metadata?.name ?? ""}`;
      const has = event !== "delete" && value?.labels[BINDING_LABEL] !== undefined;
      const had = labelled.has(key);
      if (has) labelled.add(key);
      else labelled.delete(key);
      if (has || had) kick();
    }),
    c.nodes.on((event, value, raw) => {
      const name = raw.metadata?.name ?? "";
      const pid = event === "delete" ? undefined : value?.providerID;
      if (event === "update" && providerIDs.get(name) === pid) return;
      if (event === "delete") providerIDs.delete(name);
      else providerIDs.set(name, pid);
      kick();
    }),
    c.assigned.on((event) => {
      if (event === "delete") kick();
    }),
    ...[c.namespaces, c.identities, c.bindings, c.exceptions, c.policies].map((x) => x.on(() => kick())),
  ];
  return () => offs.forEach((off) => off());
}

export async function runReconciler(
  kc: KubeConfig,
  arm: VmIdentityClient,
  settings: ReconcilerSettings,
  log: Logger,
  identities: ManagedIdentityReader,
): Promise<RunningReconciler> {
  let started: Caches | undefined;
  const metrics = createMetrics(new Registry(), () => countByStatus(started?.assigned.list() ?? []));
  registerCommonMetrics(metrics.registry);
  const identity = settings.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
  // Listening before the caches list, so /healthz answers and /readyz says what it waits for.
  const server =
    settings.metricsPort !== undefined
      ? await startMetricsServer(metrics.registry, settings.metricsPort, settings.metricsHost, () => readiness(started))
      : undefined;
  let caches: Caches;
  try {
    caches = started = await startCaches(kc, log);
  } catch (e) {
    await server?.close();
    throw e;
  }
  const events = createEventRecorder(kc, {
    component: "podid-reconciler",
    instance: identity,
    onError: (err) => log.debug({ err }, "event not recorded"),
  });
  const armClient = instrumentClient(arm, metrics);
  const waiters: Array<(r: ReconcileResult) => void> = [];

  let active: { trigger: BatchTrigger; off: () => void; resync: NodeJS.Timeout } | undefined;
  const startLeading = (signal: AbortSignal): void => {
    log.info({ identity }, "leading: reconciling");
    metrics.isLeader.set(1);
    let trigger: BatchTrigger | undefined = undefined;
    const controller = new Controller({
      sources: caches,
      arm: armClient,
      identities,
      records: createConfigMapOwnershipStore(kc, settings.namespace, (error) =>
        log.warn({ error }, "ignoring an invalid ownership record"),
      ),
      assigned: kubeAssignedIdentityWriter(kc),
      events,
      metrics,
      log,
      options: { graceMs: settings.graceMs, armCacheMs: settings.armCacheMs, invalidRetryMs: settings.invalidRetryMs },
      wakeAt: (at) => trigger?.wakeAt(at),
      signal,
    });
    trigger = new BatchTrigger(
      async () => {
        const r = await controller.reconcile();
        log.debug(r, "reconciled");
        for (const w of waiters.splice(0)) w(r);
      },
      {
        windowMs: settings.batchWindowMs,
        maxDelayMs: Math.max(settings.batchWindowMs * 10, 5_000),
        onError: (err) => log.error({ err }, "reconcile failed; retrying"),
      },
    );
    const t = trigger;
    const resync = setInterval(() => t.kick(), settings.resyncMs);
    resync.unref();
    active = { trigger: t, off: subscribe(caches, () => t.kick()), resync };
    t.kick();
    signal.addEventListener("abort", () => void stopLeading());
  };
  let stopping: Promise<void> = Promise.resolve();
  const stopLeading = (): Promise<void> => {
    const a = active;
    active = undefined;
    metrics.isLeader.set(0);
    if (a !== undefined) {
      log.info({ identity }, "stopped leading");
      a.off();
      clearInterval(a.resync);
      // Whoever asks next (stop(), or the next leadership) waits for the run in progress.
      stopping = Promise.all([stopping, a.trigger.stop()]).then(() => undefined);
    }
    return stopping;
  };

  let elector: LeaderElector | undefined;
  if (settings.leaderElect) {
    elector = startLeaderElection(kc, {
      namespace: settings.namespace,
      name: RECONCILER.leaseName,
      identity,
      leaseDurationMs: settings.leaseDurationMs,
      renewDeadlineMs: settings.renewDeadlineMs,
      retryPeriodMs: settings.retryPeriodMs,
      onStartedLeading: startLeading,
      onError: (err) => log.warn({ err }, "leader election"),
    });
  } else {
    startLeading(new AbortController().signal);
  }

  return {
    isLeader: () => active !== undefined,
    metrics,
    ...(server !== undefined ? { metricsPort: server.port } : {}),
    nextReconcile: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        active?.trigger.kick();
      }),
    async stop({ release = true } = {}) {
      if (elector !== undefined) await elector.stop({ release });
      await stopLeading();
      await events.flush();
      await Promise.all(Object.values(caches).map((c: InformerCache<unknown>) => c.stop()));
      await server?.close();
    },
  };
}
