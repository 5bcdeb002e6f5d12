// Time from pod creation to first token (issue 15), in both token sources, on the playground
// as `npm start` runs it: the Kubernetes emulator, the Azure stand-ins, and podid's webhook,
// reconciler and one NMI per node as processes (the built program's path, real sockets, real
// informers). Resource Manager's scale-set and VM operations take L seconds (default 5; real
// scale sets take 40-60 s), set with PODID_BENCH_ARM_LATENCY_S.
//
// For each source: an AzureIdentity (a fresh one, assigned to no machine) and its binding in a
// namespace of their own, then N pods (default 50, PODID_BENCH_PODS) created at once, spread by
// the scheduler over the playground's four nodes in two scale sets and a VM. Each pod asks its
// node's NMI for a token from its own address every 100 ms, as an application retrying would,
// from the moment its creation returned; its figure is the time from before its create request
// to the first 200. A federated identity's credential is made when it is bound, before its pods
// exist, as it would be in a cluster (bindings come before Deployments); the bench waits for it.
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubeRequest } from "../src/kube/request.ts";
import { BINDING_LABEL, FEDERATION, PATHS, type TokenSourceName } from "../src/model/constants.ts";
import { identityId } from "../src/playground/azure/ids.ts";
import { startStack, type Stack } from "../src/playground/stack.ts";
import { silentLogger } from "../src/shared/log.ts";

const POLL_MS = 100;
const TIMEOUT_MS = 180_000;

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

function tokenFrom(podIp: string, nmiUrl: string): Promise<number> {
  const u = new URL(`${PATHS.imdsToken}?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F`, nmiUrl);
  return new Promise((resolve) => {
    const req = http.get(u, { localAddress: podIp, headers: { Metadata: "true" }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

interface PodSeen {
  ip?: string;
  node?: string;
}

async function podsOf(stack: Stack, ns: string): Promise<Map<string, PodSeen>> {
  type Pod = { metadata: { name: string }; spec: { nodeName?: string }; status?: { podIP?: string } };
  const list = await kubeRequest<{ items: Pod[] }>(stack.kc, { path: `/api/v1/namespaces/${ns}/pods` });
  return new Map(list.items.map((p) => [p.metadata.name, { ip: p.status?.podIP, node: p.spec.nodeName }]));
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + TIMEOUT_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function bindIdentity(stack: Stack, ns: string, identity: string, source: TokenSourceName): Promise<void> {
  const cloudId = stack.cloud.identities.find((i) => i.name === identity);
  if (cloudId === undefined) throw new Error(`no identity ${identity} in the playground cloud`);
  const resourceID = identityId(stack.cloud.subscriptionId, cloudId.resourceGroup, cloudId.name);
  await kubeRequest(stack.kc, { method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } });
  const base = `/apis/aadpodidentity.k8s.io/v1/namespaces/${ns}`;
  await kubeRequest(stack.kc, {
    method: "POST",
    path: `${base}/azureidentities`,
    body: {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentity",
      metadata: { name: identity },
      spec: { type: 0, ResourceID: resourceID, ClientID: cloudId.clientId, tokenSource: source },
    },
  });
  await kubeRequest(stack.kc, {
    method: "POST",
    path: `${base}/azureidentitybindings`,
    body: {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentityBinding",
      metadata: { name: identity },
      spec: { AzureIdentity: identity, Selector: identity },
    },
  });
  if (source === "Federated")
    await until(`the federated credential of ${identity}`, () =>
      Promise.resolve(
        stack.azure.federatedCredentials(resourceID).some((c) => c.name === FEDERATION.credentialName)
          ? true
          : undefined,
      ),
    );
}

/** Seconds from each pod's creation to its first token. */
async function firstTokens(stack: Stack, ns: string, selector: string, pods: number): Promise<number[]> {
  const names = Array.from({ length: pods }, (_, i) => `app-${i}`);
  const created = new Map<string, number>();
  await Promise.all(
    names.map(async (name) => {
      const t0 = performance.now();
      await kubeRequest(stack.kc, {
        method: "POST",
        path: `/api/v1/namespaces/${ns}/pods`,
        body: {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, labels: { [BINDING_LABEL]: selector } },
          spec: { containers: [{ name: "app", image: "example.azurecr.io/app:1" }] },
        },
      });
      created.set(name, t0);
    }),
  );
  const seen = new Map<string, number>();
  const end = performance.now() + TIMEOUT_MS;
  while (seen.size < pods) {
    if (performance.now() > end)
      throw new Error(`${pods - seen.size} pods of ${ns} got no token in ${TIMEOUT_MS / 1000} s`);
    const view = await podsOf(stack, ns);
    await Promise.all(
      names
        .filter((n) => !seen.has(n))
        .map(async (n) => {
          const p = view.get(n);
          if (p?.ip === undefined || p.node === undefined) return;
          if ((await tokenFrom(p.ip, stack.nmiUrl(p.node))) === 200)
            seen.set(n, (performance.now() - created.get(n)!) / 1000);
        }),
    );
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return names.map((n) => seen.get(n)!);
}

const computeWrites = (stack: Stack): number => stack.azure.calls.computeWrites();

export async function runFirstTokenBench(): Promise<Record<string, number>> {
  const latency = Number(process.env.PODID_BENCH_ARM_LATENCY_S ?? 5);
  const pods = Number(process.env.PODID_BENCH_PODS ?? 50);
  const stateDir = mkdtempSync(join(tmpdir(), "podid-bench-first-token-"));
  const stack = await startStack({ stateDir, logger: silentLogger(), lroDurationMs: latency * 1000 });
  try {
    await bindIdentity(stack, "bench-vmss", "demo-writer", "NodeAssigned");
    const vmss = await firstTokens(stack, "bench-vmss", "demo-writer", pods);
    const writesBefore = computeWrites(stack);
    await bindIdentity(stack, "bench-federated", "other-team", "Federated");
    const federated = await firstTokens(stack, "bench-federated", "other-team", pods);
    const federatedComputeWrites = computeWrites(stack) - writesBefore;
    return {
      pods,
      arm_latency_s: latency,
      vmss_p50_s: percentile(vmss, 50),
      vmss_p99_s: percentile(vmss, 99),
      federated_p50_s: percentile(federated, 50),
      federated_p99_s: percentile(federated, 99),
      vmss_p99_over_latency_s: percentile(vmss, 99) - latency,
      federated_compute_writes: federatedComputeWrites,
    };
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
