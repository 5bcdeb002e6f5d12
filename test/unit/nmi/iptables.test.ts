import { describe, it } from "mocha";
import assert from "node:assert/strict";
import {
  applyRules,
  computeRules,
  keepRulesApplied,
  removeRules,
  type IptablesRunner,
  type RedirectConfig,
} from "../../../src/nmi/iptables.ts";

const base: RedirectConfig = {
  metadataIp: "169.254.169.254",
  metadataPort: 80,
  nodeIp: "10.240.0.4",
  nmiPort: 2579,
  podInterfaces: [],
};

describe("nmi/iptables computeRules", () => {
  it("DNATs metadata traffic to the NMI and rejects whatever is forwarded anyway (fail closed)", () => {
    const plan = computeRules(base);
    assert.equal(plan.chain, "PODID-NMI");
    assert.deepEqual(plan.restore.split("\n"), [
      "*nat",
      ":PODID-NMI - [0:0]",
      "-A PODID-NMI -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.240.0.4:2579",
      "COMMIT",
      "*filter",
      ":PODID-NMI-GUARD - [0:0]",
      "-A PODID-NMI-GUARD -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset",
      "COMMIT",
      "",
    ]);
    assert.deepEqual(
      plan.jumps.map((j) => [j.table, j.builtin, j.chain]),
      [
        ["nat", "PREROUTING", "PODID-NMI"],
        ["filter", "FORWARD", "PODID-NMI-GUARD"],
      ],
    );
    assert.deepEqual(
      plan.unused.map((j) => j.chain),
      ["PODID-NMI-HOST"],
    );
  });
  it("one rule per pod interface pattern, in both chains", () => {
    const plan = computeRules({ ...base, podInterfaces: ["veth+", "cbr0"] });
    for (const chain of ["PODID-NMI", "PODID-NMI-GUARD"])
      for (const i of ["veth\\+", "cbr0"]) assert.match(plan.restore, new RegExp(`-A ${chain} -i ${i} -d`));
  });
  it("restricts the node's own processes to the listed uids when asked", () => {
    const plan = computeRules({ ...base, hostAllowedUids: [0, 1001] });
    const host = plan.restore.split("\n").filter((l) => l.startsWith("-A PODID-NMI-HOST"));
    assert.deepEqual(host, [
      "-A PODID-NMI-HOST -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -m owner --uid-owner 0 -j RETURN",
      "-A PODID-NMI-HOST -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -m owner --uid-owner 1001 -j RETURN",
      "-A PODID-NMI-HOST -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset",
    ]);
    assert.deepEqual(plan.jumps.at(-1)?.builtin, "OUTPUT");
    assert.deepEqual(plan.unused, []);
  });
  const bad: Array<[string, Partial<RedirectConfig>, RegExp]> = [
    ["node IP not an address", { nodeIp: "node-1" }, /nodeIp/],
    ["octet out of range", { metadataIp: "169.254.169.300" }, /metadataIp/],
    ["port 0", { nmiPort: 0 }, /nmiPort/],
    ["interface with spaces (would inject arguments)", { podInterfaces: ["eth0 -j ACCEPT"] }, /interface/],
    ["a negative uid", { hostAllowedUids: [-1] }, /uid/],
  ];
  for (const [name, over, re] of bad)
    it(`refuses: ${name}`, () => assert.throws(() => computeRules({ ...base, ...over }), re));
});

describe("nmi/iptables apply, keep and remove", () => {
  /** A fake iptables that tracks which jumps exist. */
  function recorder(present: string[] = []): { run: IptablesRunner; calls: string[]; jumps: Set<string> } {
    const calls: string[] = [];
    const jumps = new Set(present);
    const key = (args: string[]): string => `${args[3]} ${args[5]} ${args.at(-1)}`;
    const run: IptablesRunner = (cmd, args) => {
      calls.push(`${cmd} ${args.join(" ")}`);
      const ok = { code: 0, stdout: "", stderr: "" };
      const no = { code: 1, stdout: "", stderr: "" };
      if (args.includes("-C")) return Promise.resolve(jumps.has(key(args)) ? ok : no);
      if (args.includes("-I")) jumps.add(`${args[3]} ${args[5]} ${args.at(-1)}`);
      if (args.includes("-D")) return Promise.resolve(jumps.delete(key(args)) ? ok : no);
      return Promise.resolve(ok);
    };
    return { run, calls, jumps };
  }
  it("inserts each jump only when it is missing, first in its chain", async () => {
    const plan = computeRules(base);
    const r = recorder();
    await applyRules(plan, r.run);
    await applyRules(plan, r.run);
    assert.equal(r.calls.filter((c) => c.includes(" -t nat -I PREROUTING 1 ")).length, 1);
    assert.equal(r.calls.filter((c) => c.includes(" -t filter -I FORWARD 1 ")).length, 1);
    assert.equal(r.calls.filter((c) => c.startsWith("iptables-restore")).length, 2);
  });
  it("takes a host restriction away again when it is switched off", async () => {
    const r = recorder();
    await applyRules(computeRules({ ...base, hostAllowedUids: [0] }), r.run);
    assert.ok(r.jumps.has("filter OUTPUT PODID-NMI-HOST"));
    await applyRules(computeRules(base), r.run);
    assert.equal(r.jumps.has("filter OUTPUT PODID-NMI-HOST"), false);
    assert.ok(r.calls.some((c) => c.includes("-t filter -X PODID-NMI-HOST")));
  });
  it("stopping the re-sync leaves the rules: nothing is removed when the NMI exits", async () => {
    const r = recorder();
    const kept = await keepRulesApplied(computeRules(base), { intervalMs: 60_000, run: r.run });
    kept.stop();
    assert.equal(
      r.calls.some((c) => / -D | -F | -X /.test(c) && !c.includes("PODID-NMI-HOST")),
      false,
      r.calls.join("\n"),
    );
    assert.equal(r.jumps.size, 2);
  });
  it("removal (the explicit uninstall) takes every jump and chain away", async () => {
    const r = recorder(["nat PREROUTING PODID-NMI", "filter FORWARD PODID-NMI-GUARD", "filter OUTPUT PODID-NMI-HOST"]);
    await removeRules(r.run);
    assert.equal(r.jumps.size, 0);
    for (const chain of ["PODID-NMI", "PODID-NMI-GUARD", "PODID-NMI-HOST"])
      assert.ok(
        r.calls.some((c) => c.endsWith(`-X ${chain}`)),
        chain,
      );
  });
  it("reports a failing iptables-restore with its message", async () => {
    const run: IptablesRunner = () => Promise.resolve({ code: 2, stdout: "", stderr: "Permission denied" });
    await assert.rejects(applyRules(computeRules(base), run), /Permission denied/);
  });
});
