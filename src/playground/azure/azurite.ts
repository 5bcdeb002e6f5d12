// Azurite's blob service as a child process: HTTPS with a certificate from the playground CA,
// OAuth on (`--oauth basic`: it checks issuer, audience and times, not signatures), in memory,
// no telemetry, any API version. A tiny guard process sits between us and Azurite and kills it
// when our end of its stdin closes, so Azurite never outlives us, even when we are killed.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { freePort } from "../free-port.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CertificateAuthority } from "../../shared/pki.ts";
import { STAND_IN_DEFAULTS } from "./names.ts";

export interface AzuriteHandle {
  blobUrl: string;
  accountName: string;
  accountKey: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

// Runs in the guard process (plain JS): start Azurite, forward its output, kill it when our
// stdin ends (the parent exited or closed it) or on a signal, and exit when it exits.
const GUARD = `
const { spawn } = require("node:child_process");
const [main, ...args] = process.argv.slice(1);
const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "inherit", "inherit"] });
let stopping = false;
const stop = () => { if (stopping) return; stopping = true; child.kill("SIGTERM"); setTimeout(() => child.kill("SIGKILL"), 3000).unref(); };
process.stdin.on("end", stop); process.stdin.on("error", stop); process.stdin.resume();
process.on("SIGTERM", stop); process.on("SIGINT", stop);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
`;

const READY = /successfully listen/i;

function azuriteMain(): string {
  const require = createRequire(import.meta.url);
  return require.resolve("azurite/dist/src/blob/main.js");
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A synchronous last resort when the process exits without calling stop() (mocha --exit).
  process.on("exit", () => {
    for (const c of live) c.kill("SIGTERM");
  });
}

export async function startAzurite(
  ca: CertificateAuthority,
  opts: { timeoutMs?: number } = {},
): Promise<AzuriteHandle> {
  const dir = mkdtempSync(join(tmpdir(), "podid-azurite-"));
  const leaf = ca.issue({ commonName: "azurite", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  writeFileSync(join(dir, "cert.pem"), leaf.certPem);
  writeFileSync(join(dir, "key.pem"), leaf.keyPem, { mode: 0o600 });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(dir, port, opts.timeoutMs ?? STAND_IN_DEFAULTS.azuriteStartTimeoutMs);
    } catch (e) {
      lastError = e as Error;
      if (!/EADDRINUSE/.test(lastError.message)) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error("azurite did not start");
}

async function launch(dir: string, port: number, timeoutMs: number): Promise<AzuriteHandle> {
  installExitHook();
  const args = [
    azuriteMain(),
    "--blobHost",
    "127.0.0.1",
    "--blobPort",
    String(port),
    "--cert",
    join(dir, "cert.pem"),
    "--key",
    join(dir, "key.pem"),
    "--oauth",
    "basic",
    "--inMemoryPersistence",
    "--disableTelemetry",
    "--skipApiVersionCheck",
  ];
  const child = spawn(process.execPath, ["-e", GUARD, ...args], { stdio: ["pipe", "pipe", "pipe"], cwd: dir });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(
    () => live.delete(child),
    () => undefined,
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`azurite did not start within ${timeoutMs} ms: ${output.slice(-500)}`)),
      timeoutMs,
    );
    const fail = (e: Error): void => {
      clearTimeout(timer);
      // SIGTERM, not SIGKILL: the guard must live long enough to take Azurite down with it.
      child.stdin.end();
      child.kill("SIGTERM");
      reject(e);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (READY.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) =>
      fail(new Error(`azurite exited (code ${code}) before serving: ${output.slice(-500)}`)),
    );
  });
  // Keep draining output so Azurite never blocks on a full pipe; nothing is kept.
  child.stdout.removeAllListeners("data").resume();
  child.stderr.removeAllListeners("data").resume();
  const accountName = STAND_IN_DEFAULTS.azuriteAccountName;
  let stopped: Promise<void> | undefined;
  return {
    blobUrl: `https://127.0.0.1:${port}/${accountName}`,
    accountName,
    accountKey: STAND_IN_DEFAULTS.azuriteAccountKey,
    port,
    pid: child.pid ?? -1,
    stop: () =>
      (stopped ??= (async () => {
        child.stdin.end();
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
