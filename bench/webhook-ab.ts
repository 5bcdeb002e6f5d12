// Which of two builds of the webhook costs less server CPU per review: `npx tsx
// bench/webhook-ab.ts <rev> [<rev>|.]` (a git revision each; `.`, the default for the second,
// is the working tree; `<rev>+<node flags>` runs that build with extra node flags, e.g.
// `. .+--max-semi-space-size=32`). On this machine two processes of one build differ by up to 15% and
// the machine itself drifts by 20-40% within a minute, so one process of each, measured one
// after the other, compares the weather. This runs three processes of each build against the
// same API server (1,000 bindings) and loads them in turn, closed loop, round after round,
// each turn in a different order; it prints each process's median and each build's median
// over all its runs. Its absolute figures run 20-40% above `npm run bench`'s (each process
// idles while the five others are loaded, and V8 shrinks an idle process's young generation,
// to regrow it under load): read the ratio. Not part of `npm run bench`: run it when working
// on the webhook's cost.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedLoop, median } from "./lib.ts";
import { nodeFlags } from "./load.ts";
import { benchReview, buildCli, MUTATE, ROOT, startCluster, startWebhook, webhookFiles } from "./webhook.ts";

const PROCESSES = 3;
const ROUNDS = 4;
const SECONDS = 3;

/** The CLI of `rev` compiled under node_modules/.cache (so its imports resolve to this checkout's packages). */
function buildRevision(rev: string, label: string): string {
  const out = join(ROOT, "node_modules", ".cache", "podid-ab", label);
  if (rev === ".") return buildCli(out);
  const src = mkdtempSync(join(tmpdir(), "podid-ab-"));
  try {
    execFileSync("sh", [
      "-c",
      `git -C "${ROOT}" archive "${rev}" src tsconfig.json tsconfig.build.json package.json | tar -x -C "${src}"`,
    ]);
    symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules"));
    mkdirSync(out, { recursive: true });
    return buildCli(out, src);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [specA, specB = "."] = process.argv.slice(2);
  if (specA === undefined)
    throw new Error("usage: npx tsx bench/webhook-ab.ts <git-rev>[+<node flags>] [<git-rev>|.][+<node flags>]");
  const builds = [specA, specB].map((spec, i) => {
    const [rev, ...flags] = spec.split("+");
    const label = i === 0 ? "a" : "b";
    return { label, spec, cli: buildRevision(rev!, label), flags: nodeFlags(flags.join("+")) };
  });
  const { dir, ca } = await webhookFiles();
  const body = JSON.stringify(benchReview());
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // autocannon, against the throwaway certificate
  const cluster = await startCluster(dir);
  const servers: Array<{ build: number; url: string; pid: number; kill(): void; runs: number[] }> = [];
  try {
    for (let p = 0; p < PROCESSES; p++)
      for (const [b, build] of builds.entries()) {
        const s = await startWebhook(dir, ca, build.cli, build.flags);
        servers.push({ build: b, url: s.url, pid: s.child.pid!, kill: () => s.child.kill(), runs: [] });
      }
    const load = { method: "POST" as const, headers: { "content-type": "application/json" }, body, duration: SECONDS };
    for (const s of servers) await closedLoop({ ...load, url: s.url + MUTATE, duration: 1 }); // warm-up
    for (let round = 0; round < ROUNDS; round++)
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + round) % servers.length]!;
        s.runs.push((await closedLoop({ ...load, url: s.url + MUTATE }, s.pid)).cpuUs);
      }
    const perBuild = builds.map((build, b) => {
      const mine = servers.filter((s) => s.build === b);
      const all = median(mine.flatMap((s) => s.runs));
      console.log(
        `${build.label} (${build.spec}): ${all.toFixed(1)} µs server CPU per review; processes: ${mine.map((s) => median(s.runs).toFixed(1)).join(", ")}`,
      );
      return all;
    });
    console.log(`b/a: ${(perBuild[1]! / perBuild[0]!).toFixed(3)}`);
  } finally {
    for (const s of servers) s.kill();
    await cluster.stop();
  }
}

await main();
