// The CLI loads a program's modules only when that program's command runs: `podid webhook`
// must not carry the Azure SDK, the playground or the doctor (heap, start time, and what every
// full garbage collection walks). Checked by listing what building the CLI resolves.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

function specifiersResolvedByBuildingTheCli(): string[] {
  const script = join(mkdtempSync(join(tmpdir(), "podid-cli-test-")), "list.mjs");
  writeFileSync(
    script,
    `import { registerHooks } from "node:module";
const seen = [];
registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
const { buildCli } = await import(${JSON.stringify(join(root, "src", "cli.ts"))});
buildCli();
process.stdout.write(JSON.stringify(seen));
`,
  );
  return JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", script], { cwd: root, encoding: "utf8" }),
  ) as string[];
}

describe("podid CLI", () => {
  it("builds every command without loading any program's dependencies", function () {
    this.timeout(30_000);
    const seen = specifiersResolvedByBuildingTheCli();
    assert.ok(seen.includes("commander"), `the listing saw nothing: ${JSON.stringify(seen)}`);
    for (const heavy of [
      "fastify",
      "@kubernetes/client-node",
      "@azure/identity",
      "@azure/arm-compute",
      "@azure/storage-blob",
      "prom-client",
      "fast-json-patch",
      "undici",
    ])
      assert.ok(!seen.includes(heavy), `building the CLI loaded ${heavy}`);
  });
});
