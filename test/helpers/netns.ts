// Network namespaces, veth pairs and iptables for tests, as root or as any other user. Root runs
// `ip` and `iptables` directly. Another user gets the same privileges over namespaces of its own
// from a user namespace (`unshare --user --map-root-user`, as `unshare -rn` does), held open by
// a sleeping process: with a mount namespace of its own (`ip netns` keeps its namespaces under a
// /run of its own) and a network namespace of its own (so the namespaces made from it belong to
// it); commands run in there through nsenter. PODID_TEST_NETNS=userns takes that way as root too
// (CI uses it when it cannot run the suite as another user). Either way nothing outside the
// test's own namespaces is touched.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

export interface NetAdmin {
  /** "root" or "a user namespace", for messages. */
  readonly how: string;
  /** Runs a command with network privileges; rejects with its stderr. */
  run(cmd: string, args: string[]): Promise<string>;
  /** Starts a command with network privileges. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  stop(): Promise<void>;
}

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err !== null ? reject(new Error(`${cmd} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

const HOLD = "mount -t tmpfs podid-netns /run && echo READY && exec sleep 86400";

async function holder(): Promise<ChildProcess> {
  const child = spawn(
    "unshare",
    ["--user", "--map-root-user", "--mount", "--net", "--propagation", "private", "sh", "-c", HOLD],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("READY")) resolve();
    });
    child.once("exit", (code) =>
      reject(
        new Error(
          `not root, and no user namespace to get network privileges in (unshare exited ${code}: ${err.trim()}); ` +
            "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)",
        ),
      ),
    );
  });
  return child;
}

export async function netAdmin(): Promise<NetAdmin> {
  if (process.getuid?.() === 0 && process.env.PODID_TEST_NETNS !== "userns")
    return {
      how: "root",
      run: exec,
      spawn: (cmd, args, opts = {}) => spawn(cmd, args, opts),
      stop: () => Promise.resolve(),
    };
  const h = await holder();
  // nsenter would start in the mount namespace's root directory; keep the caller's.
  const enter = (cmd: string, args: string[], cwd = process.cwd()): string[] => [
    "-t",
    String(h.pid),
    `--wd=${cwd}`,
    "-U",
    "-m",
    "-n",
    "--preserve-credentials",
    "--",
    cmd,
    ...args,
  ];
  return {
    how: "a user namespace",
    run: (cmd, args) => exec("nsenter", enter(cmd, args)),
    spawn: (cmd, args, opts = {}) =>
      spawn("nsenter", enter(cmd, args, typeof opts.cwd === "string" ? opts.cwd : undefined), opts),
    async stop() {
      if (h.exitCode !== null || h.signalCode !== null) return;
      h.kill("SIGKILL");
      await new Promise((r) => h.once("exit", r));
    },
  };
}
