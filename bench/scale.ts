// The scale run (issue 14): the reconciler's memory measured through its real informers.
//
// - The API server is the real kube-apiserver (etcd on tmpfs) from KUBEBUILDER_ASSETS where it
//   is available, the playground's otherwise; Resource Manager and Entra ID are the stand-ins.
// - The programs run as the container image runs them: dist/ on plain Node, no tsx.
// - Pods are created through the API server, about 9.8 KB of JSON each as stored (scale/pods.ts),
//   95% without the binding label first, then the 5% with it, and reported running; then more
//   labelled pods, for what one more labelled pod costs once the reconciler is warm.
// - Memory is read from outside, in /proc, once it has settled and after a full garbage
//   collection asked through the program's inspector (scale/inspector.ts): resident (VmRSS),
//   anonymous (RssAnon), the V8 heap in use, and the peak (VmHWM); resident before that
//   collection too.
// - Then every watch is dropped (an API server restart: the reconciler's watches come back to
//   410 Gone and relist) and the Resource Manager writes, AzureAssignedIdentity writes and
//   reconciles that follow are counted; when nothing changed there should be none. Last, a
//   fresh reconciler starts on the loaded cluster (a restart, a new leader) and is read too.
// PODID_BENCH_SCALE_PODS sets the pod count (default 20,000, as in issue 14's measurement),
// PODID_BENCH_SCALE_EXTRA_LABELLED the extra labelled pods (default 2,000).
import { freePort } from "../src/playground/free-port.ts";
import { load, memoryFigures, relist, restart, round, storedPodKb } from "./scale/measure.ts";
import { procMemory } from "./proc.ts";
import { buildDist, type Program } from "./scale/programs.ts";
import { idlePrograms, LABELLED_EVERY, stage, startReconciler } from "./scale/world.ts";

function envCount(name: string, fallback: number, min: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < min)
    throw new Error(`${name} must be a whole number ≥ ${min}, got ${process.env[name]}`);
  return v;
}

export async function runScaleBench(): Promise<Record<string, number>> {
  const total = envCount("PODID_BENCH_SCALE_PODS", 20_000, LABELLED_EVERY);
  const extra = envCount("PODID_BENCH_SCALE_EXTRA_LABELLED", 2_000, 1);
  console.error("scale run: building dist/ (the image's program)");
  buildDist();
  const s = await stage();
  const port = await freePort();
  let reconciler: Program | undefined;
  try {
    const programs = await idlePrograms(s);
    reconciler = await startReconciler(s, port);
    const readings = await load(s, reconciler, total, extra);
    const counts = await relist(s, reconciler, `http://127.0.0.1:${port}/metrics`);
    const after = procMemory(reconciler.pid);
    const fresh = await restart(s, reconciler, readings.idle, Math.ceil(total / LABELLED_EVERY) + extra);
    reconciler = fresh.program;
    return {
      real_api_server: s.cluster.kind === "real" ? 1 : 0,
      pod_json_kb: round(await storedPodKb(s.cluster.kc, s.tenants), 2),
      ...memoryFigures(readings, total, extra),
      rss_mb_peak: round(after.peakMb),
      rss_mb_after_relist: round(after.rssMb),
      ...counts,
      ...fresh.figures,
      idle_rss_mb_reconciler: round(readings.idle.rssBeforeGcMb),
      idle_rss_mb_webhook: round(programs.webhook),
      idle_rss_mb_nmi: round(programs.nmi),
    };
  } finally {
    await reconciler?.stop();
    await s.azure.stop();
    await s.cluster.stop();
  }
}

// Run alone: `npx tsx bench/scale.ts`.
if (process.argv[1]?.endsWith("scale.ts") === true) {
  console.log(await runScaleBench());
}
