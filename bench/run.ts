// `npm run bench [-- webhook reconciler nmi first-token]`: runs the benchmarks, prints their figures and
// writes each one's to bench-results/<name>.json. Benchmarks measure; tests never assert times.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

type Bench = () => Promise<Record<string, number>>;

const benches: Record<string, () => Promise<Bench>> = {
  webhook: async () => (await import("./webhook.ts")).runWebhookBench,
  reconciler: async () => (await import("./reconciler.ts")).runReconcilerBench,
  nmi: async () => (await import("./nmi.ts")).runNmiBench,
  "first-token": async () => (await import("./first-token.ts")).runFirstTokenBench,
};

const selected = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = selected.length > 0 ? selected : Object.keys(benches);
const outDir = join(process.cwd(), "bench-results");
mkdirSync(outDir, { recursive: true });

let failed = false;
for (const name of names) {
  const load = benches[name];
  if (load === undefined) {
    console.error(`unknown benchmark "${name}"; expected one of: ${Object.keys(benches).join(", ")}`);
    failed = true;
    continue;
  }
  console.log(`\n== ${name} ==`);
  try {
    const figures = await (await load())();
    for (const [k, v] of Object.entries(figures))
      console.log(`${k.padEnd(28)} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(figures, null, 2) + "\n");
  } catch (err) {
    failed = true;
    console.error(`${name} benchmark failed:`, err instanceof Error ? err.message : err);
  }
}
process.exit(failed ? 1 : 0);
