// bin/podid.js: which CLI a tree runs. A checkout runs its source (a dist/ left by an earlier
// build must not run stale code unnoticed); the image, with dist/ and no src/ or tsx, runs
// the build; with neither, a message instead of a stack trace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A tree with bin/podid.js and, as asked, a src/cli.ts, a dist/cli.js and node_modules (with tsx). */
function tree(o: { src: boolean; dist: boolean; modules: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), "podid-bin-test-"));
  mkdirSync(join(dir, "bin"));
  copyFileSync(join(root, "bin", "podid.js"), join(dir, "bin", "podid.js"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  if (o.src) {
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "cli.ts"), `const from: string = "source"; process.stdout.write(from);\n`);
  }
  if (o.dist) {
    mkdirSync(join(dir, "dist"));
    writeFileSync(join(dir, "dist", "cli.js"), `process.stdout.write("build");\n`);
  }
  if (o.modules) symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

function run(dir: string): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, [join(dir, "bin", "podid.js")], { encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

describe("bin/podid.js", () => {
  it("runs the source in a checkout, even when an earlier build left dist/", function () {
    this.timeout(30_000);
    assert.equal(run(tree({ src: true, dist: true, modules: true })).out, "source");
  });

  it("runs the build where there is no source or no tsx (the container image)", function () {
    this.timeout(30_000);
    assert.equal(run(tree({ src: false, dist: true, modules: true })).out, "build");
    assert.equal(run(tree({ src: true, dist: true, modules: false })).out, "build");
  });

  it("says what is missing when it has neither", () => {
    const r = run(tree({ src: false, dist: false, modules: false }));
    assert.equal(r.status, 1);
    assert.match(r.err, /found neither .*src.*cli\.ts with tsx installed nor .*dist.*cli\.js; run `npm install`/);
  });
});
