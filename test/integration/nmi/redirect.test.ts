// The metadata redirect for real, and that it fails closed: a "pod", a "node" and an "IMDS"
// network namespace, pod and IMDS joined to the node by veth pairs, the node forwarding between
// them as a real node forwards pod traffic to 169.254.169.254. A stand-in for the node's IMDS
// listens on 169.254.169.254:80 in its own namespace and says who reached it. The NMI runs in
// the node namespace with its own chains; the real, unmodified DefaultAzureCredential asks
// 169.254.169.254 from the pod namespace as any pod would. Attacks tried: asking while the NMI
// is stopped (SIGTERM), killed (SIGKILL) and after its DNAT was removed; a node process asking
// under the host restriction. Needs iproute2 and iptables (CI installs them), and root or a user
// namespace (test/helpers/netns.ts). Only link-local addresses, only inside namespaces this test
// creates and deletes.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { netAdmin, type NetAdmin } from "../../helpers/netns.ts";

const fixture = fileURLToPath(new URL("./fixtures/netns-nmi.ts", import.meta.url));
const podid = fileURLToPath(new URL("../../../bin/podid.js", import.meta.url));
// Every command here needs network privileges: root's, or a user namespace's.
let admin: NetAdmin | undefined;
const sh = (cmd: string, args: string[]): Promise<string> => admin!.run(cmd, args);
const spawn = (cmd: string, args: string[], opts: Parameters<NetAdmin["spawn"]>[2]): ChildProcess =>
  admin!.spawn(cmd, args, opts);
const inNs = (ns: string, cmd: string, args: string[]): Promise<string> =>
  sh("ip", ["netns", "exec", ns, cmd, ...args]);

/** The IMDS stand-in: answers every request with a token that says it came from the node's IMDS. */
const IMDS_SERVER = `
  import http from "node:http";
  http.createServer((req, res) => {
    process.stdout.write("HIT " + req.socket.remoteAddress + "\\n");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ access_token: "node-imds-token", expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource: "r" }));
  }).listen(80, "169.254.169.254", () => process.stdout.write("LISTENING\\n"));`;

/** One plain request to the metadata address: what a pod (or node process) would get. */
const ASK = `
  try {
    const r = await fetch("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r", {
      headers: { Metadata: "true" }, signal: AbortSignal.timeout(3000) });
    console.log(JSON.stringify({ status: r.status, token: (await r.json()).access_token ?? null }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.cause?.code ?? e.name }));
  }`;

type Answer = { status?: number; token?: string | null; error?: string };

describe("nmi iptables redirect in network namespaces: served, and refused while no NMI serves", function () {
  this.timeout(90_000);
  const tag = randomBytes(3).toString("hex");
  const [nodeNs, podNs, imdsNs] = [`podid-n-${tag}`, `podid-p-${tag}`, `podid-i-${tag}`];
  const [nodeIf, podIf, nodeImdsIf, imdsIf] = [`pn${tag}`, `pp${tag}`, `in${tag}`, `ii${tag}`];
  const nodeIp = "169.254.77.1";
  const podIp = "169.254.77.2";
  let nmi: ChildProcess | undefined;
  let imds: ChildProcess | undefined;
  let out = "";
  let hits = "";

  const ask = async (ns: string): Promise<Answer> =>
    JSON.parse((await inNs(ns, process.execPath, ["--input-type=module", "-e", ASK])).trim()) as Answer;
  const imdsHits = (): number => hits.split("\n").filter((l) => l.startsWith("HIT ")).length;
  const natRules = (): Promise<string> => inNs(nodeNs, "iptables", ["-t", "nat", "-S"]);

  async function startNmi(env: Record<string, string> = {}): Promise<void> {
    out = "";
    nmi = spawn("ip", ["netns", "exec", nodeNs, process.execPath, "--import", "tsx", fixture], {
      env: { ...process.env, NODE_IP: nodeIp, POD_IP: podIp, POD_IFACE: nodeIf, NMI_PORT: "2579", ...env },
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
  }
  async function stopNmi(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const n = nmi!;
    const exited = new Promise((r) => n.once("exit", r));
    // `ip netns exec` execs the program, so the signal reaches the NMI itself.
    n.kill(signal);
    await exited;
    nmi = undefined;
  }

  before(async () => {
    admin = await netAdmin();
    for (const ns of [nodeNs, podNs, imdsNs]) await sh("ip", ["netns", "add", ns]);
    await sh("ip", ["-n", nodeNs, "link", "add", nodeIf, "type", "veth", "peer", "name", podIf, "netns", podNs]);
    await sh("ip", ["-n", nodeNs, "link", "add", nodeImdsIf, "type", "veth", "peer", "name", imdsIf, "netns", imdsNs]);
    await sh("ip", ["-n", nodeNs, "addr", "add", `${nodeIp}/24`, "dev", nodeIf]);
    await sh("ip", ["-n", podNs, "addr", "add", `${podIp}/24`, "dev", podIf]);
    await sh("ip", ["-n", nodeNs, "addr", "add", "169.254.78.1/24", "dev", nodeImdsIf]);
    await sh("ip", ["-n", imdsNs, "addr", "add", "169.254.78.2/24", "dev", imdsIf]);
    await sh("ip", ["-n", imdsNs, "addr", "add", "169.254.169.254/32", "dev", imdsIf]);
    for (const [ns, dev] of [
      [nodeNs, nodeIf],
      [nodeNs, nodeImdsIf],
      [nodeNs, "lo"],
      [podNs, podIf],
      [podNs, "lo"],
      [imdsNs, imdsIf],
      [imdsNs, "lo"],
    ] as const)
      await sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    await sh("ip", ["-n", podNs, "route", "add", "default", "via", nodeIp]);
    await sh("ip", ["-n", nodeNs, "route", "add", "169.254.169.254/32", "via", "169.254.78.2"]);
    await sh("ip", ["-n", imdsNs, "route", "add", "169.254.77.0/24", "via", "169.254.78.1"]);
    await inNs(nodeNs, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    imds = spawn("ip", ["netns", "exec", imdsNs, process.execPath, "--input-type=module", "-e", IMDS_SERVER], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      imds!.stdout!.on("data", (d: Buffer) => {
        hits += d.toString();
        if (hits.includes("LISTENING")) resolve();
      });
      imds!.once("exit", (code) => reject(new Error(`IMDS stand-in exited (${code})`)));
    });
  });

  after(async () => {
    for (const p of [nmi, imds])
      if (p !== undefined && p.exitCode === null) {
        p.kill("SIGKILL");
        await new Promise((r) => p.once("exit", r));
      }
    for (const ns of [podNs, nodeNs, imdsNs]) await sh("ip", ["netns", "del", ns]).catch(() => undefined);
    await admin?.stop();
  });

  it("without podid, the pod reaches the node's IMDS (the topology would leak)", async () => {
    const before = imdsHits();
    assert.deepEqual(await ask(podNs), { status: 200, token: "node-imds-token" });
    assert.equal(imdsHits(), before + 1);
  });

  it("applies its chains once, however often it re-syncs", async () => {
    await startNmi();
    await new Promise((r) => setTimeout(r, 500));
    const nat = await natRules();
    assert.equal(nat.split("\n").filter((l) => l.startsWith("-A PODID-NMI")).length, 1, nat);
    assert.equal(nat.split("\n").filter((l) => l.includes("-j PODID-NMI")).length, 1, nat);
    const filter = await inNs(nodeNs, "iptables", ["-t", "filter", "-S"]);
    assert.equal(filter.split("\n").filter((l) => l.includes("-j PODID-NMI-GUARD")).length, 1, filter);
  });

  it("delivers the pod's request to 169.254.169.254:80 to the NMI from the pod's own address", async () => {
    const before = imdsHits();
    const code = `
      import { DefaultAzureCredential } from "@azure/identity";
      const t = await new DefaultAzureCredential().getToken("https://storage.azure.com/.default");
      console.log(JSON.stringify({ token: t.token }));`;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      AZURE_CLIENT_ID: "11111111-1111-4111-8111-111111111111",
    };
    const stdout = await inNs(podNs, "env", [
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
    assert.equal(imdsHits(), before, "the node's IMDS saw nothing");
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const)
    it(`attack: with the NMI stopped by ${signal}, the pod is refused and the node's IMDS sees nothing`, async () => {
      if (nmi === undefined) await startNmi();
      await stopNmi(signal);
      assert.match(await natRules(), /-A PODID-NMI /, "the rules stay after the NMI is gone");
      const before = imdsHits();
      const a = await ask(podNs);
      assert.equal(a.token, undefined, JSON.stringify(a));
      assert.equal(a.error, "ECONNREFUSED");
      assert.equal(imdsHits(), before);
    });

  it("attack: with the DNAT removed behind its back while it is down, the guard still refuses", async () => {
    await inNs(nodeNs, "iptables", [
      "-t",
      "nat",
      "-D",
      "PREROUTING",
      "-m",
      "comment",
      "--comment",
      "podid-nmi: metadata redirect",
      "-j",
      "PODID-NMI",
    ]);
    const before = imdsHits();
    const a = await ask(podNs);
    assert.equal(a.token, undefined, JSON.stringify(a));
    assert.equal(a.error, "ECONNREFUSED");
    assert.equal(imdsHits(), before);
  });

  it("a restarted NMI serves again", async () => {
    await startNmi();
    assert.deepEqual(await ask(podNs), { status: 200, token: "redirected-token" });
    await stopNmi("SIGTERM");
  });

  it("restricts the node's own processes (hostNetwork pods) to the uids named, and only when asked", async () => {
    // The test runs as uid 0 (root, or root of its user namespace): allowing only another uid shows
    // the restriction refusing a node process.
    // A user namespace maps uid 0 only, and iptables cannot name an unmapped uid: the refusal half
    // runs where the rule can be written, as root (.ci/run runs this file as root too).
    if (admin!.how === "root") {
      await startNmi({ HOST_UIDS: "4242" });
      const before = imdsHits();
      assert.equal((await ask(nodeNs)).error, "ECONNREFUSED");
      assert.equal(imdsHits(), before);
      await stopNmi("SIGTERM");
    }
    await startNmi({ HOST_UIDS: "0" });
    assert.deepEqual(await ask(nodeNs), { status: 200, token: "node-imds-token" });
    await stopNmi("SIGTERM");
    await startNmi();
    assert.deepEqual(await ask(nodeNs), { status: 200, token: "node-imds-token" }, "off by default");
    await stopNmi("SIGTERM");
  });

  it("`podid nmi --remove-iptables-rules` is the explicit act that reopens the node's IMDS", async () => {
    assert.equal((await ask(podNs)).error, "ECONNREFUSED");
    await inNs(nodeNs, process.execPath, [podid, "nmi", "--remove-iptables-rules"]);
    assert.doesNotMatch(await natRules(), /PODID-NMI/);
    assert.doesNotMatch(await inNs(nodeNs, "iptables", ["-t", "filter", "-S"]), /PODID-NMI/);
    assert.deepEqual(await ask(podNs), { status: 200, token: "node-imds-token" });
  });
});
