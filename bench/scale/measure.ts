// What the scale run reads: memory from /proc once the program is quiet and after a full
// garbage collection asked through its inspector, the writes that follow a relist, and a
// fresh reconciler on the loaded cluster.
import type { KubeConfig } from "@kubernetes/client-node";
import { startInformerCache } from "../../src/kube/cache.ts";
import { kubeRequest } from "../../src/kube/request.ts";
import { podidKind } from "../../src/kube/resources.ts";
import { METRICS } from "../../src/model/constants.ts";
import { freePort } from "../../src/playground/free-port.ts";
import type { BenchTenants } from "./cluster.ts";
import { attachInspector, type Inspector } from "./inspector.ts";
import { metric, type Program } from "./programs.ts";
import { procCpuMs, procMemory, settledMemory, type ProcMemory } from "../proc.ts";
import { createPods, LABELLED_EVERY, plan, sleep, startReconciler, until, type Stage } from "./world.ts";

export const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

async function assignedCount(kc: KubeConfig): Promise<number> {
  const list = await kubeRequest<{ items: Array<{ status?: { status?: string } }> }>(kc, {
    path: "/apis/aadpodidentity.k8s.io/v1/azureassignedidentities",
  });
  return list.items.filter((i) => i.status?.status === "Assigned").length;
}

export async function storedPodKb(kc: KubeConfig, t: BenchTenants): Promise<number> {
  const p = plan(1, t);
  const o = await kubeRequest(kc, { path: `/api/v1/namespaces/${p.namespace}/pods/${p.name}` });
  return JSON.stringify(o).length / 1024;
}

/** Counts AzureAssignedIdentity writes from outside: any write changes an object's resourceVersion. */
async function countAssignedWrites(kc: KubeConfig): Promise<{ count(): number; stop(): Promise<void> }> {
  const watcher = await startInformerCache(kc, podidKind("AzureAssignedIdentity"));
  let writes = 0;
  watcher.on(() => writes++);
  return { count: () => writes, stop: () => watcher.stop() };
}

/** Drops every watch and counts what the reconciler writes while it resynchronises. */
export async function relist(s: Stage, reconciler: Program, metricsUrl: string) {
  const podsRelists = () => metric(metricsUrl, METRICS.watchRelists, { resource: "pods" });
  const watchesUp = () => metric(metricsUrl, METRICS.watchHealthy);
  const reconciles = () => metric(metricsUrl, `${METRICS.reconcileDuration}_count`);
  const up = await watchesUp();
  const writes = await countAssignedWrites(s.cluster.kc);
  const [relistsBefore, reconcilesBefore, cpuBefore] = [
    await podsRelists(),
    await reconciles(),
    procCpuMs(reconciler.pid),
  ];
  s.azure.calls.reset();
  await s.cluster.dropWatches();
  await until(
    async () => (await podsRelists()) > relistsBefore && (await watchesUp()) === up,
    "the reconciler to relist",
  );
  const cpu = procCpuMs(reconciler.pid) - cpuBefore;
  await sleep(5000); // a batch window and then some: any reconcile the relist caused has run
  await writes.stop();
  return {
    relist_arm_writes: s.azure.calls.armWrites(),
    relist_assigned_writes: writes.count(),
    relist_reconciles: (await reconciles()) - reconcilesBefore,
    relist_cpu_ms: round(cpu, 0),
  };
}

/**
 * A fresh reconciler on the loaded cluster (a restart, a new leader): what holding this state
 * costs without the history of having assigned it all, and what its first reconcile writes.
 */
export async function restart(
  s: Stage,
  old: Program,
  idle: Reading,
  labelled: number,
): Promise<{ program: Program; figures: Record<string, number> }> {
  await old.stop();
  const writes = await countAssignedWrites(s.cluster.kc);
  s.azure.calls.reset();
  const port = await freePort();
  const program = await startReconciler(s, port, "reconciler-restarted");
  const url = `http://127.0.0.1:${port}/metrics`;
  await until(async () => (await metric(url, `${METRICS.reconcileDuration}_count`)) >= 1, "the first reconcile");
  const inspector = await attachInspector(program.pid, program.logFile);
  const r = await reading(program, inspector);
  inspector.close();
  await writes.stop();
  // The peak of a start on this cluster (lists, first reconcile), scaled to 7,500 labelled pods.
  const peakPerLabelledMb = (r.peakMb - idle.rssBeforeGcMb) / labelled;
  return {
    program,
    figures: {
      restarted_rss_mb: round(r.rssMb),
      restarted_heap_mb: round(r.heapMb),
      restarted_rss_mb_peak: round(r.peakMb),
      restarted_kb_per_labelled_pod: round(((r.rssMb - idle.rssMb) * 1024) / labelled, 2),
      restarted_heap_kb_per_labelled_pod: round(((r.heapMb - idle.heapMb) * 1024) / labelled, 2),
      rss_mb_peak_7500_labelled_extrapolated: round(idle.rssBeforeGcMb + peakPerLabelledMb * 7500),
      restart_arm_writes: s.azure.calls.armWrites(),
      restart_assigned_writes: writes.count(),
    },
  };
}

/** Memory as the kernel accounts it once the program is quiet and its garbage is collected. */
export interface Reading extends ProcMemory {
  /** V8 heap in use after the collection. */
  heapMb: number;
  /** Resident before the collection: garbage V8 had not collected yet included. */
  rssBeforeGcMb: number;
}

async function reading(p: Program, inspector: Inspector): Promise<Reading> {
  const before = await settledMemory(p.pid);
  const heapMb = await inspector.collect();
  await sleep(1000);
  return { ...procMemory(p.pid), heapMb, rssBeforeGcMb: before.rssMb };
}

interface Readings {
  idle: Reading;
  unlabelled: Reading;
  loaded: Reading;
  moreLabelled: Reading;
}

/** Idle, then 95% unlabelled pods, then the 5% labelled ones, then more labelled ones for their marginal cost. */
export async function load(s: Stage, reconciler: Program, total: number, extra: number): Promise<Readings> {
  const inspector = await attachInspector(reconciler.pid, reconciler.logFile);
  const idle = await reading(reconciler, inspector);
  const ks = Array.from({ length: total }, (_, k) => k);
  const labelled = ks.filter((k) => k % LABELLED_EVERY === 0);
  await createPods(
    s.cluster.kc,
    s.tenants,
    ks.filter((k) => k % LABELLED_EVERY !== 0),
    "unlabelled pods",
  );
  const unlabelled = await reading(reconciler, inspector);
  await createPods(s.cluster.kc, s.tenants, labelled, "labelled pods");
  await until(async () => (await assignedCount(s.cluster.kc)) >= labelled.length, "every labelled pod Assigned");
  const loaded = await reading(reconciler, inspector);
  // More labelled pods (k ≥ total, every one labelled): what one more labelled pod costs, once
  // the reconciler is warm (its first assignments grow its heap and load the Azure SDK's paths).
  const more = Array.from({ length: extra }, (_, i) => total + i * LABELLED_EVERY);
  await createPods(s.cluster.kc, s.tenants, more, "more labelled pods");
  await until(async () => (await assignedCount(s.cluster.kc)) >= labelled.length + extra, "the extra pods Assigned");
  const moreLabelled = await reading(reconciler, inspector);
  inspector.close();
  return { idle, unlabelled, loaded, moreLabelled };
}

export function memoryFigures(r: Readings, total: number, extra: number): Record<string, number> {
  const labelled = Math.ceil(total / LABELLED_EVERY);
  const perPod = (a: number, b: number, n: number, d = 2): number => round(((b - a) * 1024) / n, d);
  const kbPerPod = ((r.loaded.rssMb - r.idle.rssMb) * 1024) / total;
  return {
    rss_mb_idle: round(r.idle.rssMb),
    rss_mb_loaded: round(r.loaded.rssMb),
    pods_loaded: total,
    labelled_pods: labelled,
    kb_per_pod: round(kbPerPod, 2),
    rss_mb_150k_pods_extrapolated: round(r.idle.rssMb + (kbPerPod * 150_000) / 1024),
    kb_per_unlabelled_pod: perPod(r.idle.rssMb, r.unlabelled.rssMb, total - labelled, 3),
    kb_per_labelled_pod: perPod(r.loaded.rssMb, r.moreLabelled.rssMb, extra),
    heap_kb_per_labelled_pod: perPod(r.loaded.heapMb, r.moreLabelled.heapMb, extra),
    heap_kb_per_unlabelled_pod: perPod(r.idle.heapMb, r.unlabelled.heapMb, total - labelled, 3),
    extra_labelled_pods: extra,
    rss_mb_after_unlabelled_pods: round(r.unlabelled.rssMb),
    rss_mb_after_extra_labelled: round(r.moreLabelled.rssMb),
    heap_mb_idle: round(r.idle.heapMb),
    heap_mb_loaded: round(r.loaded.heapMb),
    heap_mb_after_extra_labelled: round(r.moreLabelled.heapMb),
    anon_mb_idle: round(r.idle.anonMb),
    anon_mb_loaded: round(r.loaded.anonMb),
    rss_mb_loaded_before_gc: round(r.loaded.rssBeforeGcMb),
    rss_mb_after_extra_labelled_before_gc: round(r.moreLabelled.rssBeforeGcMb),
  };
}
