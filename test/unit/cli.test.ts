// The CLI loads a program's modules only when that program's command runs: `podid webhook`
// must not carry the Azure SDK, the playground or the doctor (heap, start time, and what every
// full garbage collection walks). Checked by listing what building the CLI resolves.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
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

describe("podid refuses what it does not know", function () {
  this.timeout(60_000);
  const run = (args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [join(root, "bin", "podid.js"), ...args], { cwd: root, encoding: "utf8" });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const refused: Array<[string[], RegExp]> = [
    [
      ["bogus"],
      /^podid: unknown command 'bogus' \(commands: doctor, keys, migrate, nmi, playground, reconciler, wait, webhook; see podid --help\)$/,
    ],
    [["bogus", "--help"], /^podid: unknown command 'bogus'/],
    [["help", "bogus"], /^podid: unknown command 'bogus'/],
    [["--bogus"], /^podid: unknown option '--bogus' \(see podid --help\)$/],
    [["--bogus", "--help"], /^podid: unknown option '--bogus'/],
    [["webhook", "--bogus", "--help"], /^podid webhook: unknown option '--bogus' \(see podid webhook --help\)$/],
    [["doctor", "--help", "--no-such-flag"], /^podid doctor: unknown option '--no-such-flag'/],
    [["migrate", "--aply"], /^podid migrate: unknown option '--aply'/],
    [["wait", "--identity=x"], /--identity: expected <AzureIdentity name>:<client ID>, got "x"/],
  ];
  for (const [args, message] of refused)
    it(`podid ${args.join(" ")}: says so on stderr and exits non-zero`, () => {
      const r = run(args);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr.trim().split("\n")[0]!, message);
      assert.doesNotMatch(r.stdout, /^Usage:/m, "no help page as if all were well");
    });

  const helped: string[][] = [
    ["--help"],
    ["migrate", "--help"],
    ["wait", "--help"],
    ["help", "doctor"],
    ["doctor", "-o", "json", "--help"],
  ];
  for (const args of helped)
    it(`podid ${args.join(" ")}: prints its help and exits 0`, () => {
      const r = run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: podid/);
    });
});
