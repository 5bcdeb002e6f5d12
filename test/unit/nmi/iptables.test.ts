import { describe, it } from "mocha";
import assert from "node:assert/strict";
import {
  applyRules,
  computeRules,
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
  it("declares its own chain and DNATs metadata traffic to the NMI", () => {
    const plan = computeRules(base);
    assert.equal(plan.chain, "PODID-NMI");
    assert.deepEqual(plan.restore.split("\n"), [
      "*nat",
      ":PODID-NMI - [0:0]",
      "-A PODID-NMI -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.240.0.4:2579",
      "COMMIT",
      "",
    ]);
    assert.deepEqual(plan.jump.slice(-2), ["-j", "PODID-NMI"]);
    assert.equal(plan.jump[0], "PREROUTING");
  });
  it("one rule per pod interface pattern", () => {
    const plan = computeRules({ ...base, podInterfaces: ["veth+", "cbr0"] });
    assert.match(plan.restore, /-A PODID-NMI -i veth\+ -d/);
    assert.match(plan.restore, /-A PODID-NMI -i cbr0 -d/);
  });
  const bad: Array<[string, Partial<RedirectConfig>, RegExp]> = [
    ["node IP not an address", { nodeIp: "node-1" }, /nodeIp/],
    ["octet out of range", { metadataIp: "169.254.169.300" }, /metadataIp/],
    ["port 0", { nmiPort: 0 }, /nmiPort/],
    ["interface with spaces (would inject arguments)", { podInterfaces: ["eth0 -j ACCEPT"] }, /interface/],
  ];
  for (const [name, over, re] of bad)
    it(`refuses: ${name}`, () => assert.throws(() => computeRules({ ...base, ...over }), re));
});

describe("nmi/iptables apply and remove", () => {
  function recorder(jumpPresent: boolean): { run: IptablesRunner; calls: string[] } {
    const calls: string[] = [];
    let present = jumpPresent;
    const run: IptablesRunner = (cmd, args) => {
      calls.push(`${cmd} ${args.join(" ")}`);
      if (args.includes("-C")) return Promise.resolve({ code: present ? 0 : 1, stdout: "", stderr: "" });
      if (args.includes("-I")) present = true;
      if (args.includes("-D")) {
        const was = present;
        present = false;
        return Promise.resolve({ code: was ? 0 : 1, stdout: "", stderr: "" });
      }
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    };
    return { run, calls };
  }
  it("inserts the jump only when it is missing", async () => {
    const plan = computeRules(base);
    const r = recorder(false);
    await applyRules(plan, r.run);
    await applyRules(plan, r.run);
    assert.equal(r.calls.filter((c) => c.includes(" -I PREROUTING 1 ")).length, 1);
    assert.equal(r.calls.filter((c) => c.startsWith("iptables-restore")).length, 2);
  });
  it("removes jump and chain", async () => {
    const plan = computeRules(base);
    const r = recorder(true);
    await removeRules(plan, r.run);
    assert.ok(r.calls.some((c) => c.includes("-X PODID-NMI")));
    assert.ok(r.calls.some((c) => c.includes("-D PREROUTING")));
  });
  it("reports a failing iptables-restore with its message", async () => {
    const run: IptablesRunner = () => Promise.resolve({ code: 2, stdout: "", stderr: "Permission denied" });
    await assert.rejects(applyRules(computeRules(base), run), /Permission denied/);
  });
});
