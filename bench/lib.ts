// What every HTTP benchmark here shares: servers in child processes (so client and server do
// not share one event loop), maximum throughput with autocannon, and latency at a fixed rate
// with evenly spaced requests measured from each one's scheduled send time (autocannon's
// overallRate sends bursts, which would measure the bursts instead of the server).
import { spawn, type ChildProcess } from "node:child_process";
import type autocannon from "autocannon";
import { closedLoop, nodeFlags, type Latency, type Throughput } from "./load.ts";

export { closedLoop, pacedLatency, type Latency, type Throughput } from "./load.ts";

/** Extra node flags for the server children, e.g. `PODID_BENCH_NODE_FLAGS="--cpu-prof --trace-gc"`
 * (NODE_OPTIONS refuses both): how a server's profile or garbage collections are looked at. */
export const childFlags = nodeFlags(process.env.PODID_BENCH_NODE_FLAGS);
const CHILD_ENV = "PODID_BENCH_CHILD";
// A server child stopped by its parent exits normally, so that --cpu-prof writes its profile.
if (process.env[CHILD_ENV] === "1") process.once("SIGTERM", () => process.exit(0));

/** Starts `script` in a child process with `roleEnv=role`; it prints `READY <url>` once it serves. */
export function startRole(
  script: string,
  roleEnv: string,
  role: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...childFlags, "--import", "tsx", script, ...args], {
    env: { ...process.env, ...env, [roleEnv]: role, [CHILD_ENV]: "1", PODID_LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m === null) return;
      // What the server prints after READY (--trace-gc, say) goes to stderr, prefixed by role.
      child.stdout.off("data", onData);
      child.stdout.on("data", (more: Buffer) =>
        process.stderr.write(more.toString().replace(/^(?=.)/gm, `[${role}] `)),
      );
      resolve({ url: m[1]!, child });
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${role} server exited (${code})`)));
  });
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The figures every server benchmark reports: its own, the bare server's of the same runs, and the ratio. */
export interface ServerFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  bare_rps: number;
  ratio_to_bare: number;
  bare_p50_ms: number;
  bare_p99_ms: number;
  /** Server CPU time (user + system) per request in the closed-loop runs. */
  cpu_us_per_request: number;
  bare_cpu_us_per_request: number;
  rounds: number;
}

/** A server under test: its process, a closed-loop load, and a paced load on a fresh pool. */
export interface Contender {
  pid: number;
  closedLoop: autocannon.Options;
  /** Latency at `rate` requests/s for `seconds` (pacedLatency against this server). */
  paced(rate: number, seconds: number): Promise<Latency>;
}

/**
 * The server against the bare one, in `rounds` interleaved rounds (server closed loop, bare
 * closed loop, server paced, bare paced), after one warm-up of each; each figure is the median
 * of its rounds, the ratio the median of the rounds' ratios. This machine is a small VM whose
 * neighbours come and go: one round can be off by 20%, and interleaving puts both servers
 * through the same weather.
 */
export async function compareServers(
  server: Contender,
  bare: Contender,
  o: { rounds?: number; rate?: number; seconds?: number } = {},
): Promise<ServerFigures> {
  const rounds = o.rounds ?? 5;
  const rate = o.rate ?? 1000;
  const seconds = o.seconds ?? 5;
  await closedLoop(server.closedLoop); // warm-up (JIT, connections)
  await closedLoop(bare.closedLoop);
  const r: Array<{ s: Throughput; b: Throughput; sp: Latency; bp: Latency }> = [];
  for (let i = 0; i < rounds; i++) {
    const s = await closedLoop(server.closedLoop, server.pid);
    const b = await closedLoop(bare.closedLoop, bare.pid);
    const sp = await server.paced(rate, seconds);
    const bp = await bare.paced(rate, seconds);
    r.push({ s, b, sp, bp });
    console.log(
      `  round ${i + 1}: ${Math.round(s.rps)} req/s, ${s.cpuUs.toFixed(1)} µs CPU/request (bare ${Math.round(b.rps)}, ${b.cpuUs.toFixed(1)} µs); ` +
        `at ${rate} req/s p99 ${sp.p99.toFixed(2)} ms (bare ${bp.p99.toFixed(2)} ms)`,
    );
  }
  return {
    rps: Math.round(median(r.map((x) => x.s.rps))),
    p50_ms: round(median(r.map((x) => x.sp.p50))),
    p99_ms: round(median(r.map((x) => x.sp.p99))),
    bare_rps: Math.round(median(r.map((x) => x.b.rps))),
    ratio_to_bare: round(median(r.map((x) => x.s.rps / x.b.rps))),
    bare_p50_ms: round(median(r.map((x) => x.bp.p50))),
    bare_p99_ms: round(median(r.map((x) => x.bp.p99))),
    cpu_us_per_request: round(median(r.map((x) => x.s.cpuUs)), 1),
    bare_cpu_us_per_request: round(median(r.map((x) => x.b.cpuUs)), 1),
    rounds,
  };
}
