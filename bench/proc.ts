// A process's memory and CPU as the kernel accounts them, read from outside through /proc:
// what a container's memory limit is enforced against, whatever the process thinks it uses.
import { readFileSync } from "node:fs";

export interface ProcMemory {
  /** Resident set (VmRSS). */
  rssMb: number;
  /** Anonymous resident memory (RssAnon): the JS heap and native allocations, no mapped files. */
  anonMb: number;
  /** Peak resident set so far (VmHWM). */
  peakMb: number;
}

const kb = (status: string, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (m === null) throw new Error(`/proc status has no ${field}`);
  return Number(m[1]);
};

export function procMemory(pid: number): ProcMemory {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return { rssMb: kb(s, "VmRSS") / 1024, anonMb: kb(s, "RssAnon") / 1024, peakMb: kb(s, "VmHWM") / 1024 };
}

/** User + system CPU time of process `pid` in ms: the process's own cost, whoever measures. */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Memory once it has settled: samples every `everyMs` until two consecutive readings `windowMs`
 * apart differ by less than 1 MB (or `maxMs` passes), then gives the last reading.
 */
export async function settledMemory(pid: number, o: { everyMs?: number; windowMs?: number; maxMs?: number } = {}) {
  const every = o.everyMs ?? 500;
  const window = o.windowMs ?? 3000;
  const deadline = Date.now() + (o.maxMs ?? 30_000);
  let before = procMemory(pid);
  let at = Date.now();
  for (;;) {
    await sleep(every);
    const now = procMemory(pid);
    if (Date.now() - at >= window) {
      if (Math.abs(now.rssMb - before.rssMb) < 1 || Date.now() > deadline) return now;
      before = now;
      at = Date.now();
    }
  }
}
