// One control-plane binary as a child process: output to a log file, stopped with SIGTERM (then
// SIGKILL), and killed with the parent whatever way the parent ends, so a failed test run never
// leaves an etcd or an API server behind.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

export interface Supervised {
  readonly name: string;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<string>;
  readonly alive: boolean;
  stop(graceMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

export function startProcess(name: string, binary: string, args: string[], logFile: string): Supervised {
  installExitHook();
  const fd = openSync(logFile, "a");
  const child = spawn(binary, args, { stdio: ["ignore", fd, fd], env: { ...process.env, GOMAXPROCS: "2" } });
  closeSync(fd);
  running.add(child);
  let alive = true;
  const exited = new Promise<string>((resolve) => {
    const done = (why: string): void => {
      alive = false;
      running.delete(child);
      resolve(why);
    };
    child.once("exit", (code, signal) => done(signal ?? `exit code ${code ?? "?"}`));
    child.once("error", (err) => done(err.message));
  });
  return {
    name,
    logFile,
    exited,
    get alive() {
      return alive;
    },
    kill: (signal) => void child.kill(signal),
    async stop(graceMs = 10_000) {
      if (!alive) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The last lines of a log, for an error message that shows why a binary did not come up. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
