// The metadata redirect for real: a "node" and a "pod" network namespace joined by a veth
// pair, the NMI running in the node namespace with its own iptables chain, and the real,
// unmodified DefaultAzureCredential in the pod namespace asking 169.254.169.254 as any pod
// would. Needs iproute2 and iptables (CI installs them), and root or a user namespace
// (test/helpers/netns.ts). Only link-local addresses, only inside namespaces this test creates.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { netAdmin, type NetAdmin } from "../../helpers/netns.ts";

const fixture = fileURLToPath(new URL("./fixtures/netns-nmi.ts", import.meta.url));
// Every command here needs network privileges: root's, or a user namespace's.
let admin: NetAdmin | undefined;
const sh = (cmd: string, args: string[]): Promise<string> => admin!.run(cmd, args);
const spawn = (cmd: string, args: string[], opts: Parameters<NetAdmin["spawn"]>[2]): ChildProcess =>
  admin!.spawn(cmd, args, opts);

describe("nmi iptables redirect in network namespaces", function () {
  this.timeout(60_000);
  const tag = randomBytes(3).toString("hex");
  const nodeNs = `podid-n-${tag}`;
  const podNs = `podid-p-${tag}`;
  const nodeIf = `pn${tag}`;
  const podIf = `pp${tag}`;
  const nodeIp = "169.254.77.1";
  const podIp = "169.254.77.2";
  let nmi: ChildProcess | undefined;
  let out = "";

  before(async () => {
    admin = await netAdmin();
    await sh("ip", ["netns", "add", nodeNs]);
    await sh("ip", ["netns", "add", podNs]);
    await sh("ip", ["-n", nodeNs, "link", "add", nodeIf, "type", "veth", "peer", "name", podIf, "netns", podNs]);
    await sh("ip", ["-n", nodeNs, "addr", "add", `${nodeIp}/24`, "dev", nodeIf]);
    await sh("ip", ["-n", podNs, "addr", "add", `${podIp}/24`, "dev", podIf]);
    for (const [ns, dev] of [
      [nodeNs, nodeIf],
      [nodeNs, "lo"],
      [podNs, podIf],
      [podNs, "lo"],
    ] as const)
      await sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    await sh("ip", ["-n", podNs, "route", "add", "default", "via", nodeIp]);
    nmi = spawn("ip", ["netns", "exec", nodeNs, process.execPath, "--import", "tsx", fixture], {
      env: { ...process.env, NODE_IP: nodeIp, POD_IP: podIp, POD_IFACE: nodeIf, NMI_PORT: "2579" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    nmi.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      nmi!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("READY")) resolve();
      });
      nmi!.once("exit", (code) => reject(new Error(`NMI exited early (${code}): ${err}`)));
    });
  });

  after(async () => {
    if (nmi !== undefined && nmi.exitCode === null) {
      nmi.kill("SIGTERM");
      await new Promise((r) => nmi!.once("exit", r));
    }
    await sh("ip", ["netns", "del", podNs]).catch(() => undefined);
    await sh("ip", ["netns", "del", nodeNs]).catch(() => undefined);
    await admin?.stop();
  });

  it("applies its chain once, however often it re-syncs", async () => {
    await new Promise((r) => setTimeout(r, 500));
    const rules = await sh("ip", ["netns", "exec", nodeNs, "iptables", "-t", "nat", "-S"]);
    assert.equal(rules.split("\n").filter((l) => l.startsWith("-A PODID-NMI")).length, 1, rules);
    assert.equal(rules.split("\n").filter((l) => l.includes("-j PODID-NMI")).length, 1, rules);
  });

  it("delivers the pod's request to 169.254.169.254:80 to the NMI from the pod's own address", async () => {
    const code = `
      import { DefaultAzureCredential } from "@azure/identity";
      const t = await new DefaultAzureCredential().getToken("https://storage.azure.com/.default");
      console.log(JSON.stringify({ token: t.token }));`;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      AZURE_CLIENT_ID: "11111111-1111-4111-8111-111111111111",
    };
    const stdout = await sh("ip", [
      "netns",
      "exec",
      podNs,
      "env",
      "-i",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      "--input-type=module",
      "-e",
      code,
    ]);
    assert.deepEqual(JSON.parse(stdout.trim().split("\n").pop()!), { token: "redirected-token" });
    const sources = out.split("\n").filter((l) => l.startsWith("SOURCE "));
    assert.ok(sources.length >= 1, out);
    for (const s of sources) assert.equal(s.split(" ")[1], podIp);
  });

  it("removes its chain when it stops", async () => {
    nmi!.kill("SIGTERM");
    await new Promise((r) => nmi!.once("exit", r));
    const rules = await sh("ip", ["netns", "exec", nodeNs, "iptables", "-t", "nat", "-S"]);
    assert.doesNotMatch(rules, /PODID-NMI/);
  });
});
