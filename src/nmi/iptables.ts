// The redirect of pod traffic for the metadata address to this NMI, and the guard that makes
// it fail closed. The NMI owns a few chains, computed by a pure function and written atomically
// with iptables-restore (a chain declared with --noflush is emptied first, so applying twice
// leaves one copy), each hooked in by one jump rule, re-applied on a timer in case something
// else rewrote the tables:
//   nat    PODID-NMI        DNAT pods' metadataIp:port to this NMI (PREROUTING);
//   filter PODID-NMI-GUARD  REJECT pods' metadataIp:port traffic that is forwarded anyway, i.e.
//                           that escaped the DNAT (FORWARD);
//   filter PODID-NMI-HOST   optional: only the listed uids on the node itself may reach the
//                           metadata address (OUTPUT; hostNetwork pods are node processes).
// The rules stay when the NMI stops, however it stops: while no NMI listens, pod traffic to the
// metadata address is DNATed to a closed port and refused, never passed to the node's IMDS.
// Removing them is an explicit act (`podid nmi --remove-iptables-rules`, for uninstalling).
import { execFile } from "node:child_process";

export const NMI_CHAIN = "PODID-NMI";
export const GUARD_CHAIN = "PODID-NMI-GUARD";
export const HOST_CHAIN = "PODID-NMI-HOST";

export interface RedirectConfig {
  /** Where pods think IMDS is. */
  metadataIp: string;
  metadataPort: number;
  /** Where the NMI listens on this node (its hostNetwork address). */
  nodeIp: string;
  nmiPort: number;
  /** iptables interface patterns the pod traffic arrives on (e.g. `veth+`, `cbr0`); empty = any. */
  podInterfaces: string[];
  /** When set, only processes of these uids on the node itself may reach the metadata address. */
  hostAllowedUids?: number[];
  chain?: string;
}

type Table = "nat" | "filter";

/** A jump from a built-in chain to one of ours: `-t <table> <builtin> -m comment ... -j <chain>`. */
export interface Jump {
  table: Table;
  builtin: string;
  chain: string;
  comment: string;
}

export interface RulePlan {
  /** The DNAT chain (nat table). */
  chain: string;
  /** Input for `iptables-restore --noflush`. */
  restore: string;
  /** The jumps this plan needs. */
  jumps: Jump[];
  /** Jumps of chains this plan does not use (removed when present, e.g. a host restriction switched off). */
  unused: Jump[];
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
  for (const u of c.hostAllowedUids ?? []) {
    if (!Number.isInteger(u) || u < 0 || u > 4_294_967_294)
      throw new Error(`iptables: uid must be 0-4294967294, got ${u}`);
  }
}

const jump = (table: Table, builtin: string, chain: string, what: string): Jump => ({
  table,
  builtin,
  chain,
  comment: `podid-nmi: ${what}`,
});
export const JUMPS = {
  redirect: jump("nat", "PREROUTING", NMI_CHAIN, "metadata redirect"),
  guard: jump("filter", "FORWARD", GUARD_CHAIN, "metadata guard"),
  host: jump("filter", "OUTPUT", HOST_CHAIN, "metadata host restriction"),
} as const;

/** The chains, as data. Throws on a malformed config rather than writing a bad rule. */
export function computeRules(c: RedirectConfig): RulePlan {
  checkConfig(c);
  const chain = c.chain ?? NMI_CHAIN;
  const match = `-d ${c.metadataIp}/32 -p tcp -m tcp --dport ${c.metadataPort}`;
  const perInterface = (rule: (iface: string) => string): string[] =>
    c.podInterfaces.length === 0 ? [rule("")] : c.podInterfaces.map((i) => rule(`-i ${i} `));
  const nat = perInterface((i) => `-A ${chain} ${i}${match} -j DNAT --to-destination ${c.nodeIp}:${c.nmiPort}`);
  const guard = perInterface((i) => `-A ${GUARD_CHAIN} ${i}${match} -j REJECT --reject-with tcp-reset`);
  const uids = c.hostAllowedUids;
  const host =
    uids === undefined
      ? []
      : [
          ...uids.map((u) => `-A ${HOST_CHAIN} ${match} -m owner --uid-owner ${u} -j RETURN`),
          `-A ${HOST_CHAIN} ${match} -j REJECT --reject-with tcp-reset`,
        ];
  const filterChains = [`:${GUARD_CHAIN} - [0:0]`, ...(uids === undefined ? [] : [`:${HOST_CHAIN} - [0:0]`])];
  const restore = [
    "*nat",
    `:${chain} - [0:0]`,
    ...nat,
    "COMMIT",
    "*filter",
    ...filterChains,
    ...guard,
    ...host,
    "COMMIT",
    "",
  ];
  const redirect = { ...JUMPS.redirect, chain };
  return {
    chain,
    restore: restore.join("\n"),
    jumps: uids === undefined ? [redirect, JUMPS.guard] : [redirect, JUMPS.guard, JUMPS.host],
    unused: uids === undefined ? [JUMPS.host] : [],
  };
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

const jumpArgs = (j: Jump): string[] => ["-m", "comment", "--comment", j.comment, "-j", j.chain];
const iptables = (j: Jump, op: string, ...rest: string[]): string[] => [
  "-w",
  "5",
  "-t",
  j.table,
  op,
  j.builtin,
  ...rest,
];

/** Removes every copy of a jump and then its chain. Missing pieces are not an error. */
async function removeJumpAndChain(j: Jump, run: IptablesRunner): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run("iptables", iptables(j, "-D", ...jumpArgs(j)));
    if (r.code !== 0) break;
  }
  await run("iptables", ["-w", "5", "-t", j.table, "-F", j.chain]);
  await run("iptables", ["-w", "5", "-t", j.table, "-X", j.chain]);
}

/** Writes the chains and makes sure each built-in chain jumps to ours, once, first. Safe to call repeatedly. */
export async function applyRules(plan: RulePlan, run: IptablesRunner = execRunner): Promise<void> {
  await must(run, "iptables-restore", ["-w", "5", "--noflush"], plan.restore);
  for (const j of plan.jumps) {
    const present = await run("iptables", iptables(j, "-C", ...jumpArgs(j)));
    if (present.code !== 0) await must(run, "iptables", iptables(j, "-I", "1", ...jumpArgs(j)));
  }
  for (const j of plan.unused) await removeJumpAndChain(j, run);
}

/** Removes every chain and jump podid's NMI owns: the explicit act of uninstalling. */
export async function removeRules(run: IptablesRunner = execRunner, chain = NMI_CHAIN): Promise<void> {
  for (const j of [{ ...JUMPS.redirect, chain }, JUMPS.guard, JUMPS.host]) await removeJumpAndChain(j, run);
}

/**
 * Applies now and every `intervalMs`; the returned stop() stops re-applying and leaves the
 * rules in place, so the node stays closed until an NMI serves again (or rules are removed).
 */
export async function keepRulesApplied(
  plan: RulePlan,
  opts: { intervalMs: number; run?: IptablesRunner; onError?: (err: unknown) => void },
): Promise<{ stop(): void }> {
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
  return { stop: () => clearInterval(timer) };
}
