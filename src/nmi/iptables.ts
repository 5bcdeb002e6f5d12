// The redirect of pod traffic for the metadata address to this NMI. The NMI owns one nat
// chain: its content is computed by a pure function, written atomically with
// iptables-restore (a chain declared with --noflush is emptied first, so applying twice
// leaves one copy), hooked into PREROUTING by one jump rule, re-applied on a timer in case
// something else rewrote the table, and removed when the NMI exits.
import { execFile } from "node:child_process";

export const NMI_CHAIN = "PODID-NMI";
const JUMP_COMMENT = "podid-nmi: metadata redirect";

export interface RedirectConfig {
  /** Where pods think IMDS is. */
  metadataIp: string;
  metadataPort: number;
  /** Where the NMI listens on this node (its hostNetwork address). */
  nodeIp: string;
  nmiPort: number;
  /** iptables interface patterns the pod traffic arrives on (e.g. `veth+`, `cbr0`); empty = any. */
  podInterfaces: string[];
  chain?: string;
}

export interface RulePlan {
  chain: string;
  /** Input for `iptables-restore --noflush`. */
  restore: string;
  /** Arguments (after `-t nat`) identifying the jump rule in PREROUTING. */
  jump: string[];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IFACE = /^[A-Za-z0-9_.:@-]{1,15}\+?$/;

function checkConfig(c: RedirectConfig): void {
  for (const [field, ip] of [
    ["metadataIp", c.metadataIp],
    ["nodeIp", c.nodeIp],
  ] as const) {
    const m = IPV4.exec(ip);
    if (m === null || m.slice(1).some((o) => Number(o) > 255))
      throw new Error(`iptables: ${field} must be an IPv4 address, got '${ip}'`);
  }
  for (const [field, port] of [
    ["metadataPort", c.metadataPort],
    ["nmiPort", c.nmiPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`iptables: ${field} must be a port 1-65535, got ${port}`);
  }
  for (const i of c.podInterfaces) {
    if (!IFACE.test(i)) throw new Error(`iptables: pod interface '${i}' is not an interface name or pattern`);
  }
}

/** The whole chain, as data. Throws on a malformed config rather than writing a bad rule. */
export function computeRules(c: RedirectConfig): RulePlan {
  checkConfig(c);
  const chain = c.chain ?? NMI_CHAIN;
  const match = `-d ${c.metadataIp}/32 -p tcp -m tcp --dport ${c.metadataPort}`;
  const target = `-j DNAT --to-destination ${c.nodeIp}:${c.nmiPort}`;
  const rules =
    c.podInterfaces.length === 0
      ? [`-A ${chain} ${match} ${target}`]
      : c.podInterfaces.map((i) => `-A ${chain} -i ${i} ${match} ${target}`);
  const restore = ["*nat", `:${chain} - [0:0]`, ...rules, "COMMIT", ""].join("\n");
  const jump = ["PREROUTING", "-m", "comment", "--comment", JUMP_COMMENT, "-j", chain];
  return { chain, restore, jump };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs `iptables` or `iptables-restore`; tests wrap it in `ip netns exec`. */
export type IptablesRunner = (
  cmd: "iptables" | "iptables-restore",
  args: string[],
  stdin?: string,
) => Promise<CommandResult>;

export const execRunner: IptablesRunner = (cmd, args, stdin) =>
  new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, stdout, stderr: err !== null && stderr === "" ? err.message : stderr });
    });
    // iptables may exit before reading its input; that surfaces as its exit code, not EPIPE.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(stdin ?? "");
  });

async function must(
  run: IptablesRunner,
  cmd: "iptables" | "iptables-restore",
  args: string[],
  stdin?: string,
): Promise<void> {
  const r = await run(cmd, args, stdin);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
}

/** Writes the chain and makes sure PREROUTING jumps to it, once. Safe to call repeatedly. */
export async function applyRules(plan: RulePlan, run: IptablesRunner = execRunner): Promise<void> {
  await must(run, "iptables-restore", ["-w", "5", "--noflush"], plan.restore);
  const present = await run("iptables", ["-w", "5", "-t", "nat", "-C", ...plan.jump]);
  if (present.code !== 0) {
    const [builtin, ...rest] = plan.jump;
    await must(run, "iptables", ["-w", "5", "-t", "nat", "-I", builtin!, "1", ...rest]);
  }
}

/** Removes the jump (every copy) and the chain. Missing pieces are not an error. */
export async function removeRules(plan: RulePlan, run: IptablesRunner = execRunner): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run("iptables", ["-w", "5", "-t", "nat", "-D", ...plan.jump]);
    if (r.code !== 0) break;
  }
  await run("iptables", ["-w", "5", "-t", "nat", "-F", plan.chain]);
  await run("iptables", ["-w", "5", "-t", "nat", "-X", plan.chain]);
}

/** Applies now and every `intervalMs`; the returned stop() removes the rules. */
export async function keepRulesApplied(
  plan: RulePlan,
  opts: { intervalMs: number; run?: IptablesRunner; onError?: (err: unknown) => void },
): Promise<{ stop(): Promise<void> }> {
  const run = opts.run ?? execRunner;
  await applyRules(plan, run);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    applyRules(plan, run)
      .catch((err: unknown) => opts.onError?.(err))
      .finally(() => (busy = false));
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await removeRules(plan, run);
    },
  };
}
