// The load generators, each run in a process of its own: a closed loop (autocannon) and an
// evenly paced load (undici). They used to run in the benchmark's own process, which also
// holds the playground's API server and everything the benchmark has loaded (70 MB of heap):
// its mark-compact collections, 5-15 ms every second or two, stopped the clock of every
// request in flight and showed up as the tail of whichever server was being measured. A load
// process holds only the load (Node runs this file itself, stripping its types: no tsx), and
// its collections are 1 ms scavenges. The benchmarks import closedLoop and pacedLatency.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Pool, type Dispatcher } from "undici";
import { procCpuMs } from "./proc.ts";

/** A closed-loop run's requests/s, and the server's CPU µs per request (0 without a pid). */
export interface Throughput {
  rps: number;
  cpuUs: number;
}

/** What a paced run measures, in ms from each request's scheduled send time. */
export interface Latency {
  p50: number;
  p99: number;
}

/** What the paced load sends: JSON-able, since it crosses into the load process. */
export interface PacedJob {
  origin: string;
  connect?: { ca?: string; servername?: string };
  request: Pick<Dispatcher.RequestOptions, "path" | "method"> & { headers?: Record<string, string>; body?: string };
  rate: number;
  seconds: number;
}

type Job = { kind: "closed"; opts: autocannon.Options; pid?: number } | ({ kind: "paced" } & PacedJob);

const JOB_ENV = "PODID_BENCH_LOAD_JOB";

/** Node flags from a whitespace-separated text (an environment variable, say). */
export function nodeFlags(text: string | undefined): string[] {
  return (text ?? "").split(/\s+/).filter((f) => f !== "");
}
/**
 * A load process allocates little that lives, yet V8 sized its old generation to that little
 * and ran a mark-compact every second: 10-15 ms in which no answer was read, which made every
 * request in flight look 10-15 ms slow (each such stall lined up with one in --trace-gc). With
 * room to grow, a run needs none. PODID_BENCH_LOAD_FLAGS adds flags (--trace-gc, say).
 */
const loadFlags = ["--initial-old-space-size=512", ...nodeFlags(process.env.PODID_BENCH_LOAD_FLAGS)];

/**
 * A closed-loop maximum-throughput run (16 keep-alive connections, 5 s unless `opts` say
 * otherwise); with `pid`, also that server's CPU time per answered request.
 */
async function closed(opts: autocannon.Options, pid: number | undefined): Promise<Throughput> {
  const before = pid !== undefined ? procCpuMs(pid) : 0;
  const r = await autocannon({ connections: 16, pipelining: 1, duration: 5, ...opts });
  if (r.non2xx > 0 || r.errors > 0)
    throw new Error(`bench: ${r.non2xx} non-2xx answers, ${r.errors} errors from ${String(opts.url)}`);
  const cpuUs = pid !== undefined ? ((procCpuMs(pid) - before) * 1000) / Math.max(r.requests.total, 1) : 0;
  return { rps: r.requests.average, cpuUs };
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const PACED_CONNECTIONS = 32;

/**
 * Evenly spaced requests at `rate`/s: `count` of them, each one's latency (ms from its
 * scheduled send time) written to `into` when given. Nothing per request outlives its answer
 * (no array of promises), so what the load process keeps does not grow with the run.
 */
function pace(
  pool: Pool,
  request: Dispatcher.RequestOptions,
  rate: number,
  count: number,
  into?: Float64Array,
): Promise<void> {
  const interval = 1000 / rate;
  const t0 = performance.now() + 1;
  let next = 0;
  let answered = 0;
  return new Promise((resolve, reject) => {
    const send = (i: number, scheduled: number): void => {
      pool
        .request(request)
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`bench: status ${res.statusCode}`);
          if (into !== undefined) into[i] = performance.now() - scheduled;
          if (++answered === count) resolve();
        })
        .catch(reject);
    };
    const tick = (): void => {
      const now = performance.now();
      for (; next < count && t0 + next * interval <= now; next++) send(next, t0 + next * interval);
      if (next < count) setImmediate(tick);
    };
    tick();
  });
}

/**
 * Requests at exactly `rate`/s for `seconds`, latency from each scheduled send time, over
 * keep-alive connections opened before the clock starts, as the apiserver keeps its
 * connections to a webhook. Without that, any stall made the pool open new connections in the
 * middle of the run, and over HTTPS each handshake (an RSA signature, 1-2 ms of server CPU
 * here) queued the requests behind it: p99s of 10-20 ms for the bare server too. A second
 * at the same rate comes first, unmeasured: the first requests of a run otherwise met the
 * load process's own compiler at work, a few ms each.
 */
async function paced(job: PacedJob): Promise<Latency> {
  const { origin, connect, request, rate, seconds } = job;
  const pool = new Pool(origin, {
    connections: PACED_CONNECTIONS,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 120_000,
    ...(connect !== undefined ? { connect } : {}),
  });
  await Promise.all(Array.from({ length: PACED_CONNECTIONS }, async () => (await pool.request(request)).body.text()));
  await pace(pool, request, rate, rate);
  const latencies = new Float64Array(rate * seconds);
  await pace(pool, request, rate, latencies.length, latencies);
  await pool.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** Runs `job` in a fresh load process and returns what it measured (sent back over IPC, so the
 * process's own output, --trace-gc say, passes through). */
function inLoadProcess<T>(job: Job): Promise<T> {
  const child = spawn(process.execPath, [...loadFlags, fileURLToPath(import.meta.url)], {
    env: { ...process.env, [JOB_ENV]: JSON.stringify(job) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let result: T | undefined;
  child.on("message", (m) => (result = m as T));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0 || result === undefined)
        reject(new Error(`bench: load process (${job.kind}) exited with ${code}`));
      else resolve(result);
    });
  });
}

/** A closed-loop run from a load process; with `pid`, also that server's CPU time per request. */
export const closedLoop = (opts: autocannon.Options, pid?: number): Promise<Throughput> =>
  inLoadProcess({ kind: "closed", opts, ...(pid !== undefined ? { pid } : {}) });
/** A paced run from a load process. */
export const pacedLatency = (job: PacedJob): Promise<Latency> => inLoadProcess({ kind: "paced", ...job });

const jobText = process.env[JOB_ENV];
if (jobText !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(jobText) as Job;
  try {
    const result = job.kind === "closed" ? await closed(job.opts, job.pid) : await paced(job);
    process.send?.(result);
    process.disconnect?.();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
