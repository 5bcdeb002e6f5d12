// podid's programs as the container image runs them: the compiled CLI (dist/, built here with
// the project's tsc) on plain Node, NODE_ENV=production, no tsx. The image's entrypoint is
// bin/podid.js, which picks dist/cli.js when there is no src/ and no tsx; in a checkout it
// would pick the source, so the benchmark starts dist/cli.js itself.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnProgram, waitReady, type ProgramHandle } from "../../src/playground/processes.ts";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CLI = join(ROOT, "dist", "cli.js");

/** `npm run build` (tsc -p tsconfig.build.json): the same dist/ the Dockerfile builds. */
export function buildDist(): void {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (!existsSync(CLI)) throw new Error(`the build did not produce ${CLI}`);
}

export type Program = ProgramHandle;

/** Starts a program from dist/ with the image's environment, logging to `logDir`/`name`.log. */
export function startProgram(name: string, args: string[], env: Record<string, string>, logDir: string): Program {
  return spawnProgram({
    name,
    command: process.execPath,
    args: [CLI, ...args],
    logDir,
    // --inspect-port only says where the inspector would listen: it stays closed unless the
    // benchmark opens it (SIGUSR1) to collect garbage before reading memory (inspector.ts).
    env: { NODE_ENV: "production", PODID_LOG_LEVEL: "info", NODE_OPTIONS: "--inspect-port=127.0.0.1:0", ...env },
  });
}

export { waitReady };

/** One Prometheus sample's value, summed over the series that match `labels` (text format). */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await new Promise<string>((done, fail) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => done(body));
      })
      .on("error", fail);
  });
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== " " && line[name.length] !== "{")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
