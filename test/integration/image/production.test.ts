// What the container image holds: the production dependency tree (package-lock.json's packages
// not marked dev, what `npm prune --omit=dev` in the Dockerfile keeps) and the build
// (tsconfig.build.json). Neither may hold the playground (Azurite, the storage SDK, the
// stand-ins); every module of the build must load with the production dependencies alone, every
// production dependency must be used, and the built CLI must say where the playground is.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { builtinModules } from "node:module";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
};

/** Packages the production tree holds, by name (`node_modules/a/node_modules/b` is b). */
function productionPackages(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (path === "" || meta.dev === true || meta.devOptional === true) continue;
    const name = path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    out.set(name, [...(out.get(name) ?? []), path]);
  }
  return out;
}

// yaml stays: `podid migrate` prints its manifests as YAML.
const PLAYGROUND_ONLY = ["azurite", "@azure/storage-blob", "zod"];
const TOOLCHAIN = [
  "tsx",
  "typescript",
  "esbuild",
  "mocha",
  "eslint",
  "prettier",
  "node",
  "autocannon",
  "kubernetes-models",
];

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : [],
  );
}

/** A bare specifier: a package name, perhaps with a subpath (not text that happens to follow `from`). */
const PACKAGE = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*(\/[^\s]*)?$/;

/** The packages a file imports (static, re-exported and dynamic imports with a literal specifier). */
function importedPackages(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)["']([^"']+)["']/gm)].map(
    (m) => m[1]!,
  );
  return specifiers
    .filter((s) => PACKAGE.test(s) && !s.startsWith("node:") && !builtinModules.includes(s))
    .map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!));
}

describe("the production image's contents", function () {
  this.timeout(120_000);
  let app: string;
  let dist: string;

  before(async () => {
    // The image's /app: package.json, bin/, dist/ and a node_modules with the production packages only.
    app = mkdtempSync(join(tmpdir(), "podid-image-"));
    dist = join(app, "dist");
    await promisify(execFile)(
      join(ROOT, "node_modules", ".bin", "tsc"),
      ["-p", join(ROOT, "tsconfig.build.json"), "--outDir", dist],
      {
        cwd: ROOT,
      },
    );
    writeFileSync(join(app, "package.json"), JSON.stringify({ type: "module" }));
    mkdirSync(join(app, "bin"));
    copyFileSync(join(ROOT, "bin", "podid.js"), join(app, "bin", "podid.js"));
    // Hard-linked copies (cheap; a user who does not own the files may not link them, and copies
    // instead), then what the Dockerfile deletes from them.
    let link = true;
    for (const [name, paths] of productionPackages()) {
      if (!paths.includes(`node_modules/${name}`)) continue;
      const [from, to] = [join(ROOT, "node_modules", name), join(app, "node_modules", name)];
      mkdirSync(dirname(to), { recursive: true });
      if (link)
        link = await run("cp", ["-al", from, to]).then(
          () => true,
          () => (rmSync(to, { recursive: true, force: true }), false),
        );
      if (!link) await run("cp", ["-a", from, to]);
    }
    const prune = /^ && (find node_modules .* -delete)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1];
    assert.ok(prune !== undefined, "the Dockerfile prunes node_modules with find");
    await promisify(execFile)("bash", ["-c", prune], { cwd: app });
  });
  after(() => rmSync(app, { recursive: true, force: true }));

  it("keeps no type declarations or source maps in the production packages", () => {
    const left = spawnSync(
      "find",
      ["node_modules", "-type", "f", "(", "-name", "*.map", "-o", "-name", "*.d.ts", ")"],
      {
        cwd: app,
        encoding: "utf8",
      },
    );
    assert.equal(left.stdout, "");
  });

  it("the production dependency tree holds nothing of the playground or the toolchain", () => {
    const prod = productionPackages();
    for (const name of [...PLAYGROUND_ONLY, ...TOOLCHAIN])
      assert.ok(!prod.has(name), `${name} is in the production tree (${prod.get(name)?.join(", ")})`);
    for (const name of PLAYGROUND_ONLY)
      assert.ok(pkg.devDependencies[name] !== undefined, `${name} is a devDependency`);
  });

  it("the build holds the programs and the doctor, and nothing of the playground", () => {
    const top = readdirSync(dist, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    assert.deepEqual(top, [
      "doctor",
      "keys",
      "kube",
      "migrate",
      "model",
      "nmi",
      "policy",
      "reconciler",
      "shared",
      "wait",
      "webhook",
    ]);
    const mentions = jsFiles(dist).filter((f) => /azurite|storage-blob/.test(readFileSync(f, "utf8")));
    assert.deepEqual(
      mentions.map((f) => relative(dist, f)),
      [],
    );
  });

  it("imports only production dependencies, and uses each of them", () => {
    const used = new Set(jsFiles(dist).flatMap(importedPackages));
    const deps = Object.keys(pkg.dependencies).sort();
    assert.deepEqual(
      [...used].filter((p) => !deps.includes(p)),
      [],
      "the build imports packages that are not dependencies",
    );
    assert.deepEqual(
      deps.filter((d) => !used.has(d)),
      [],
      "dependencies that nothing in the build imports",
    );
  });

  it("loads every module of the build with the production packages alone", () => {
    const files = jsFiles(dist).map((f) => JSON.stringify(`./${relative(app, f)}`));
    const r = spawnSync(
      process.execPath,
      ["--input-type=module", "-e", `for (const f of [${files.join(",")}]) await import(f);`],
      {
        cwd: app,
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
  });

  it("runs the programs' commands from the build, and says where the playground is", () => {
    const podid = (...args: string[]) =>
      spawnSync(process.execPath, [join(app, "bin", "podid.js"), ...args], { encoding: "utf8" });
    for (const program of ["webhook", "reconciler", "nmi", "doctor", "migrate", "wait", "keys"]) {
      const r = podid(program, "--help");
      assert.equal(r.status, 0, `${program}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: podid ${program}`));
    }
    const r = podid("playground", "--once");
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^podid: podid playground is not part of this build: .* Run it from a source checkout: npm install && npm start\n$/,
    );
  });
});
