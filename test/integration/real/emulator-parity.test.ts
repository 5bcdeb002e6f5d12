// The playground's emulator says what the real API server says: the same kubectl commands, run
// against both, print the same output and exit with the same code (ports and names aside), for
// what podid's users meet: webhooks that deny, warn, are unreachable, untrusted or serve the
// wrong name, under either failure policy; Endpoints the API server refuses; podid's CRD
// validation. Found differences are recorded in docs/real-apiserver.md.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { freePort } from "../../../src/playground/free-port.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import { kubectl, type Run } from "../../helpers/kubectl.ts";
import { ROOT } from "../../helpers/podid-real.ts";
import { sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";
import { startWebhook, type Decide, type TestWebhook } from "../playground/kube/webhook-server.ts";

const ca = createCertificateAuthority("parity CA");
const stranger = createCertificateAuthority("a CA nobody trusts");

/** Every review answered by its path: /deny refuses (403), anything else allows; each with a warning. */
const byPath: Decide = (r) => {
  const deny = r.path.startsWith("/deny");
  return {
    allowed: !deny,
    ...(deny ? { status: { code: 403, reason: "Forbidden", message: "not in this namespace" } } : {}),
    warnings: [`seen: ${r.request.operation}`],
  };
};

interface Scenario {
  name: string;
  /** The webhook configuration to apply first (none: the command alone). */
  config?: (ns: string) => Record<string, unknown>;
  commands: (ns: string) => Array<{ args: string[]; stdin?: string }>;
}

describe("real cluster: the emulator prints what the real API server prints", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let emu: TestCluster;
  const servers: TestWebhook[] = [];
  let ports: { good: number; dnsOnly: number; otherIp: number; dead: number };
  const ns = uniqueNamespace("parity");

  const k = {
    real: (args: string[], stdin?: string): Promise<Run> => kubectl(cp.kubeconfigPath, args, stdin),
    emu: (args: string[], stdin?: string): Promise<Run> => kubectl(emu.kubeconfigPath, args, stdin),
  };
  const both = async (args: string[], stdin?: string): Promise<void> => {
    for (const run of [k.real, k.emu]) {
      const r = await run(args, stdin);
      assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    }
  };

  before(async () => {
    cp = await sharedRealCluster();
    emu = await startTestCluster({ simulateKubelet: false });
    const good = await startWebhook(ca);
    const dnsOnly = await startWebhook(ca, [], { commonName: "hook", dnsNames: ["hook.parity.svc"] });
    const otherIp = await startWebhook(ca, [], { commonName: "hook", ipAddresses: ["127.0.0.2"] });
    servers.push(good, dnsOnly, otherIp);
    for (const s of servers) s.decide = byPath;
    ports = { good: good.port, dnsOnly: dnsOnly.port, otherIp: otherIp.port, dead: await freePort() };
    await both(["create", "namespace", ns]);
    await both(["label", "namespace", ns, `parity=${ns}`]);
    await both(["apply", "-k", join(ROOT, "config", "crd")]);
  });
  after(async () => {
    for (const run of [k.real, k.emu])
      await run(["delete", "validatingwebhookconfiguration", "-l", `parity=${ns}`, "--ignore-not-found"]);
    await emu?.stop();
    for (const s of servers) await s.stop();
  });

  const hookConfig =
    (url: (p: typeof ports) => string, policy: "Fail" | "Ignore", caPem = ca.certPem) =>
    (space: string): Record<string, unknown> => ({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: `${space}-hook`, labels: { parity: space } },
      webhooks: [
        {
          name: "parity.podid.example",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: policy,
          timeoutSeconds: 5,
          clientConfig: { url: url(ports), caBundle: Buffer.from(caPem).toString("base64") },
          rules: [
            { operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] },
          ],
          namespaceSelector: { matchLabels: { parity: space } },
        },
      ],
    });
  let n = 0;
  const createAndLabel = (space: string) => {
    const name = `c${n++}`;
    return [
      { args: ["create", "configmap", name, "-n", space, "--from-literal=a=b"] },
      { args: ["label", "configmap", name, "-n", space, "x=y"] },
    ];
  };

  const scenarios: Scenario[] = [
    {
      name: "a webhook that denies, with a warning",
      config: hookConfig((p) => `https://127.0.0.1:${p.good}/deny`, "Fail"),
      commands: createAndLabel,
    },
    {
      name: "a webhook that allows, with a warning",
      config: hookConfig((p) => `https://127.0.0.1:${p.good}/ok`, "Fail"),
      commands: createAndLabel,
    },
    {
      name: "an unreachable webhook, failurePolicy Fail",
      config: hookConfig((p) => `https://127.0.0.1:${p.dead}/v`, "Fail"),
      commands: createAndLabel,
    },
    {
      name: "an unreachable webhook, failurePolicy Ignore",
      config: hookConfig((p) => `https://127.0.0.1:${p.dead}/v`, "Ignore"),
      commands: createAndLabel,
    },
    {
      name: "a webhook whose certificate is signed by an unknown authority",
      config: hookConfig((p) => `https://127.0.0.1:${p.good}/v`, "Fail", stranger.certPem),
      commands: createAndLabel,
    },
    {
      name: "a webhook whose certificate has no IP SANs",
      config: hookConfig((p) => `https://127.0.0.1:${p.dnsOnly}/v`, "Fail"),
      commands: createAndLabel,
    },
    {
      name: "a webhook whose certificate names another IP",
      config: hookConfig((p) => `https://127.0.0.1:${p.otherIp}/v`, "Fail"),
      commands: createAndLabel,
    },
    {
      name: "Endpoints with a loopback address",
      commands: (space) => [
        {
          args: ["create", "-f", "-"],
          stdin: JSON.stringify({
            apiVersion: "v1",
            kind: "Endpoints",
            metadata: { name: "loop", namespace: space },
            subsets: [{ addresses: [{ ip: "127.0.0.1" }], ports: [{ port: 443 }] }],
          }),
        },
      ],
    },
    {
      name: "an AzureIdentity that podid's CRD refuses",
      commands: (space) => [
        {
          args: ["create", "-f", "-"],
          stdin: JSON.stringify({
            apiVersion: "aadpodidentity.k8s.io/v1",
            kind: "AzureIdentity",
            metadata: { name: "bad", namespace: space },
            spec: { type: 3 },
          }),
        },
      ],
    },
  ];

  const normalise = (r: Run): string =>
    `exit ${r.code}\n${r.stdout}${r.stderr}`.replace(/:\d{4,5}\b/g, ":PORT").replace(/\bc\d+\b/g, "CM");

  /** Waits until the real API server applies the configuration just given: a dry run prints what the emulator's does. */
  async function inEffect(space: string): Promise<void> {
    const probe = ["create", "configmap", "probe", "-n", space, "--dry-run=server"];
    const want = normalise(await k.emu(probe));
    for (let i = 0; i < 40; i++) {
      if (normalise(await k.real(probe)) === want) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  for (const s of scenarios) {
    it(s.name, async () => {
      if (s.config !== undefined) {
        await both(["apply", "-f", "-"], JSON.stringify(s.config(ns)));
        await inEffect(ns);
      }
      for (const c of s.commands(ns)) {
        const emulated = normalise(await k.emu(c.args, c.stdin));
        const real = normalise(await k.real(c.args, c.stdin));
        assert.equal(emulated, real, `kubectl ${c.args.join(" ")}`);
      }
    });
  }
});
