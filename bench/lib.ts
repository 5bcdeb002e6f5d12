// What every HTTP benchmark here shares: servers in child processes (so client and server do
// not share one event loop), maximum throughput with autocannon, and latency at a fixed rate
// with evenly spaced requests measured from each one's scheduled send time (autocannon's
// overallRate sends bursts, which would measure the bursts instead of the server).
import { spawn, type ChildProcess } from "node:child_process";
import autocannon from "autocannon";
import type { Dispatcher, Pool } from "undici";

/** Starts `script` in a child process with `roleEnv=role`; it prints `READY <url>` once it serves. */
export function startRole(script: string, roleEnv: string, role: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    env: { ...process.env, ...env, [roleEnv]: role, PODID_LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m !== null) resolve({ url: m[1]!, child });
    });
    child.once("exit", (code) => reject(new Error(`${role} server exited (${code})`)));
  });
}

/** Closed-loop maximum requests per second (16 keep-alive connections, 5 s). */
export async function maxRps(opts: autocannon.Options): Promise<number> {
  const r = await autocannon({ connections: 16, pipelining: 1, duration: 5, ...opts });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`bench: ${r.non2xx} non-2xx answers, ${r.errors} errors from ${String(opts.url)}`);
  return r.requests.average;
}

export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Requests at exactly `rate`/s for `seconds` through `pool`, latency from each scheduled send time. */
export async function pacedLatency(pool: Pool, request: Dispatcher.RequestOptions, rate: number, seconds: number): Promise<{ p50: number; p99: number }> {
  const total = rate * seconds;
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const inflight: Array<Promise<void>> = [];
  const t0 = performance.now() + 20;
  let next = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        const scheduled = t0 + next * interval;
        next++;
        inflight.push(
          pool.request(request).then(async (res) => {
            await res.body.text();
            if (res.statusCode !== 200) throw new Error(`bench: status ${res.statusCode}`);
            latencies.push(performance.now() - scheduled);
          }),
        );
      }
      if (next < total) setImmediate(tick);
      else done();
    };
    tick();
  });
  await Promise.all(inflight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** The figures every server benchmark reports: its own, the bare server's of the same run, and the ratio. */
export interface ServerFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  bare_rps: number;
  ratio_to_bare: number;
  bare_p50_ms: number;
  bare_p99_ms: number;
}

export function serverFigures(rps: number, bareRps: number, paced: { p50: number; p99: number }, barePaced: { p50: number; p99: number }): ServerFigures {
  return {
    rps: Math.round(rps),
    p50_ms: round(paced.p50),
    p99_ms: round(paced.p99),
    bare_rps: Math.round(bareRps),
    ratio_to_bare: round(rps / bareRps),
    bare_p50_ms: round(barePaced.p50),
    bare_p99_ms: round(barePaced.p99),
  };
}
