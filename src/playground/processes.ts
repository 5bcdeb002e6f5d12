// podid's programs run in the playground as a user would run them: separate processes of the
// `podid` executable with flags, each logging to its own file in the state directory. The
// playground waits for each to answer its readiness endpoint and stops them all on exit.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PODID_BIN = resolve(fileURLToPath(new URL("../../bin/podid.js", import.meta.url)));

export interface ProgramHandle {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  args: string[];
  env?: Record<string, string>;
  logDir: string;
}

export function spawnPodid(opts: SpawnOptions): ProgramHandle {
  return spawnProgram({ ...opts, command: process.execPath, args: [PODID_BIN, ...opts.args] });
}

/** Any program (the playground's Prometheus), logged and stopped the same way. */
export function spawnProgram(opts: SpawnOptions & { command: string }): ProgramHandle {
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = join(opts.logDir, `${opts.name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child: ChildProcess = spawn(opts.command, opts.args, {
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  void exited.then(() => log.end());
  return {
    name: opts.name,
    pid: child.pid ?? -1,
    logFile,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function probe(url: string, caPem?: string): Promise<number> {
  return new Promise((done) => {
    const u = new URL(url);
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.get(u, { ca: caPem, timeout: 1000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(0));
  });
}

/** Polls a readiness URL until it answers 200; fails early, with the log's path, if the process dies. */
export async function waitReady(p: ProgramHandle, url: string, caPem?: string, timeoutMs = 60_000): Promise<void> {
  let dead = false;
  void p.exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${p.name} exited before it was ready; see ${p.logFile}`);
    if ((await probe(url, caPem)) === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${p.name} was not ready at ${url} within ${timeoutMs / 1000}s; see ${p.logFile}`);
}
