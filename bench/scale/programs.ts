// podid's programs as the container image runs them: the compiled CLI (dist/, built here with
// the project's tsc) on plain Node, NODE_ENV=production, no tsx. The image's entrypoint is
// bin/podid.js, which picks dist/cli.js when there is no src/ and no tsx; in a checkout it
// would pick the source, so the benchmark starts dist/cli.js itself.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CLI = join(ROOT, "dist", "cli.js");

/** `npm run build` (tsc -p tsconfig.build.json): the same dist/ the Dockerfile builds. */
export function buildDist(): void {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (!existsSync(CLI)) throw new Error(`the build did not produce ${CLI}`);
}

export interface Program {
  name: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export function startProgram(name: string, args: string[], env: Record<string, string>, logDir: string): Program {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    // --inspect-port only says where the inspector would listen: it stays closed unless the
    // benchmark opens it (SIGUSR1) to collect garbage before reading memory (inspector.ts).
    env: {
      ...process.env,
      NODE_ENV: "production",
      PODID_LOG_LEVEL: "info",
      NODE_OPTIONS: "--inspect-port=127.0.0.1:0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  return {
    name,
    pid: child.pid ?? -1,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

function status(url: string, caPem?: string): Promise<number> {
  return new Promise((done) => {
    const lib = url.startsWith("https:") ? https : http;
    const req = lib.get(url, { ca: caPem, timeout: 2000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(0));
  });
}

/** Waits until `url` answers 200. */
export async function waitReady(p: Program, url: string, caPem?: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await status(url, caPem)) !== 200) {
    if (Date.now() > deadline) throw new Error(`${p.name} not ready at ${url}; see ${p.logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

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
