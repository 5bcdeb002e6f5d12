// Reconciler benchmark. Two parts:
//
// 1. Writes (issue 5): AAD Pod Identity's nightly load, 2,000 pods on 30 nodes in 3 uniform
//    scale sets with 50 identities, from empty to converged, then 10% churn; Resource Manager
//    writes against the minimum possible (distinct scale sets whose set changed), writes in
//    steady state, and the reconcile's CPU time. This part is about Resource Manager and the
//    reconcile, so its Kubernetes side is caches filled by hand (no memory figure comes from it).
// 2. Scale (issue 14, bench/scale.ts): the reconciler program as the image runs it, on a real
//    API server, its memory read from /proc through its real informers, and the writes after a
//    relist. Its figures are the memory figures.
//
// How part 1 is measured:
// - Resource Manager is the playground's stand-in, driven by the real @azure/arm-compute
//   client (HTTPS, long-running operations, the stand-in's call log counts the writes).
// - The Kubernetes side is in-memory caches filled directly (what the informers would hold
//   after their list; pods parsed by the same parsePod the informer uses) and an in-memory
//   AzureAssignedIdentity writer: the benchmark is about Resource Manager and the reconcile,
//   not the API server.
// - Pods arrive in bursts (20 chunks 10 ms apart), each chunk kicking the same batching
//   trigger the program uses (window 200 ms here), so batching is measured, not assumed.
// - Churn: every pod of 5 of the 50 identities (10% of the pods) is deleted and recreated on
//   another scale set, so each scale set both gains and loses identities. The removal grace
//   is 0 here, so the minimum is one write per scale set per phase; with a grace period the
//   removals would be a second, deliberate write.
// - reconcile_cpu_ms is process CPU time (user + system) spent in the reconciles of the
//   2,000-pod run against an in-memory Resource Manager (no HTTP or stand-in in the figure).
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../src/model/types.ts";
import { createCertificateAuthority } from "../src/shared/pki.ts";
import { silentLogger } from "../src/shared/log.ts";
import { startAzure, type PlaygroundCloud } from "../src/playground/azure/index.ts";
import { identityId } from "../src/playground/azure/ids.ts";
import { ClientSecretCredential } from "@azure/identity";
import { createArmVmIdentityClient } from "../src/reconciler/arm-client.ts";
import { BatchTrigger } from "../src/reconciler/batch.ts";
import { Controller, type Sources } from "../src/reconciler/controller.ts";
import { parsePod, type NamespaceInfo, type NodeInfo, type PodInfo } from "../src/reconciler/kube-objects.ts";
import { createArmIdentityReader, type ManagedIdentityReader } from "../src/reconciler/identity-reader.ts";
import { MemoryArm, MemoryCache, MemoryIdentities, memoryAssignedWriter, metaKey } from "../src/reconciler/memory.ts";
import { createMetrics } from "../src/reconciler/metrics.ts";
import { memoryOwnershipStore } from "../src/reconciler/records.ts";
import type { VmIdentityClient } from "../src/reconciler/vm-client.ts";
import { benchCloud, IDENTITIES, NODES_PER_SET, SCALE_SETS } from "./cloud.ts";
import { runScaleBench } from "./scale.ts";

const PODS = 2000;
const RG = "mc_bench_westeurope";
const ID_RG = "bench-identities";
const NS_COUNT = 10;

interface World {
  sources: Sources;
  pods: MemoryCache<PodInfo>;
  assigned: MemoryCache<AzureAssignedIdentity>;
  controller: Controller;
}

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  labels: {},
  annotations: {},
});

function rawPod(name: string, ns: string, selector: string, node: string): unknown {
  // A realistic pod as the API server sends it; the cache keeps parsePod's slim view.
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      uid: `${name}-uid-0000-0000-000000000000`,
      labels: { app: selector, aadpodidbinding: selector, "pod-template-hash": "5d8f7c9b6d" },
      annotations: { "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z" },
    },
    spec: {
      nodeName: node,
      serviceAccountName: "default",
      containers: [
        {
          name: "app",
          image: "mcr.microsoft.com/azure-cli:2.60.0",
          resources: { requests: { cpu: "10m", memory: "32Mi" } },
          env: [{ name: "AZURE_CLIENT_ID", value: "x" }],
        },
      ],
      tolerations: [
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      ],
    },
    status: {
      phase: "Running",
      podIP: "10.244.0.10",
      conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: new Date().toISOString() }],
    },
  };
}

function makeWorld(cloud: PlaygroundCloud, arm: VmIdentityClient, identityReader: ManagedIdentityReader): World {
  const pods = new MemoryCache<PodInfo>((p) => p);
  const nodes = new MemoryCache<NodeInfo>((n) => n);
  const namespaces = new MemoryCache<NamespaceInfo>((n) => n);
  const identities = new MemoryCache<AzureIdentity>(metaKey);
  const bindings = new MemoryCache<AzureIdentityBinding>(metaKey);
  const assigned = new MemoryCache<AzureAssignedIdentity>(metaKey);
  const sources: Sources = {
    pods,
    nodes,
    namespaces,
    identities,
    bindings,
    exceptions: new MemoryCache<AzurePodIdentityException>(metaKey),
    policies: new MemoryCache<AzurePodIdentityPolicy>(metaKey),
    assigned,
  };
  for (const ss of cloud.scaleSets) {
    for (const inst of ss.instances) {
      nodes.put({
        name: inst.computerName,
        providerID: `azure:///subscriptions/${cloud.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${ss.name}/virtualMachines/${inst.instanceId}`,
      });
    }
  }
  for (let n = 0; n < NS_COUNT; n++) namespaces.put({ name: `team-${n}`, labels: {} });
  // Every namespace may use every identity (AzureIdentity and binding per namespace, as podid's namespaced model wants).
  for (let n = 0; n < NS_COUNT; n++) {
    for (let i = 0; i < IDENTITIES; i++) {
      const ns = `team-${n}`;
      identities.put({
        metadata: meta(`id-${i}`, ns),
        type: 0,
        resourceID: identityId(cloud.subscriptionId, ID_RG, `id-${i}`),
        clientID: cloud.identities[i + 1]!.clientId,
      });
      bindings.put({ metadata: meta(`id-${i}-binding`, ns), azureIdentity: `id-${i}`, selector: `id-${i}` });
    }
  }
  const controller = new Controller({
    sources,
    arm,
    identities: identityReader,
    records: memoryOwnershipStore(),
    assigned: memoryAssignedWriter(assigned),
    metrics: createMetrics(),
    log: silentLogger(),
    options: { graceMs: 0, armCacheMs: 300_000, invalidRetryMs: 300_000 },
    wakeAt: () => {},
  });
  return { sources, pods, assigned, controller };
}

/** Identity i's pods run on scale set (i + shift) mod 3; pods spread over namespaces and that set's nodes. */
function placePod(w: World, cloud: PlaygroundCloud, i: number, k: number, shift: number, prefix: string): void {
  const ss = cloud.scaleSets[(i + shift) % SCALE_SETS]!;
  const node = ss.instances[k % NODES_PER_SET]!.computerName;
  const parsed = parsePod(rawPod(`${prefix}-id${i}-${k}`, `team-${k % NS_COUNT}`, `id-${i}`, node));
  if (parsed.ok) w.pods.put(parsed.value);
}

function placePods(
  w: World,
  cloud: PlaygroundCloud,
  identities: number[],
  shift: number,
  prefix: string,
  perIdentity: number,
): void {
  for (const i of identities) for (let k = 0; k < perIdentity; k++) placePod(w, cloud, i, k, shift, prefix);
}

/** placePods, as one step per pod (for bursts). */
function podSteps(
  w: World,
  cloud: PlaygroundCloud,
  identities: number[],
  shift: number,
  prefix: string,
  perIdentity: number,
): Array<() => void> {
  const steps: Array<() => void> = [];
  for (const i of identities) {
    for (let k = 0; k < perIdentity; k++) steps.push(() => placePod(w, cloud, i, k, shift, prefix));
  }
  return steps;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cpuMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  return fn().then(() => {
    const d = process.cpuUsage(start);
    return (d.user + d.system) / 1000;
  });
}

const PER_IDENTITY = PODS / IDENTITIES;
const CHURNED = Array.from({ length: 5 }, (_, i) => i * 10); // 5 identities = 10% of the pods

async function writesRun(): Promise<{ writes: number; minimum: number; steady: number }> {
  const cloud = benchCloud({ rg: RG, idRg: ID_RG, run: 1 });
  const ca = createCertificateAuthority("podid bench CA");
  const pg = await startAzure({ cloud, ca, lroDurationMs: 0 });
  try {
    const sp = cloud.servicePrincipals[0]!;
    const credential = new ClientSecretCredential(pg.tenantId, sp.clientId, sp.secret!, {
      authorityHost: pg.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: pg.caPem },
    });
    const arm = createArmVmIdentityClient({ credential, endpoint: pg.armUrl, caPem: pg.caPem, pollIntervalMs: 10 });
    // The ClientID checks go through @azure/arm-msi to the stand-in, as in the program.
    const w = makeWorld(cloud, arm, createArmIdentityReader({ credential, endpoint: pg.armUrl, caPem: pg.caPem }));
    const all = Array.from({ length: IDENTITIES }, (_, i) => i);

    // Events drive a batching trigger as in the program: pods arrive in 20 chunks, 10 ms apart,
    // each chunk kicking it (as its watch events would).
    let reconciles = 0;
    const trigger = new BatchTrigger(
      async () => {
        reconciles++;
        await w.controller.reconcile();
      },
      { windowMs: 200, maxDelayMs: 2000, onError: (e) => console.error(e) },
    );
    const burst = async (steps: Array<() => void>): Promise<void> => {
      const chunk = Math.ceil(steps.length / 20);
      for (let i = 0; i < steps.length; i += chunk) {
        for (const s of steps.slice(i, i + chunk)) s();
        trigger.kick();
        await sleep(10);
      }
      while (trigger.busy) await sleep(20);
    };

    // From empty to converged.
    pg.calls.reset();
    await burst(podSteps(w, cloud, all, 0, "p", PER_IDENTITY));
    const initialWrites = pg.calls.armWrites();
    const initialMinimum = SCALE_SETS; // every scale set's set changed

    // 10% churn: the pods of 5 identities move to the next scale set.
    pg.calls.reset();
    const leaving = w.pods.list().filter((p) => CHURNED.some((i) => p.labels.aadpodidbinding === `id-${i}`));
    await burst([
      ...leaving.map((p) => () => w.pods.delete(p.name, p.namespace)),
      ...podSteps(w, cloud, CHURNED, 1, "moved", PER_IDENTITY),
    ]);
    const churnWrites = pg.calls.armWrites();
    const churnMinimum = SCALE_SETS; // each set gains some identities and loses others

    // Steady state: reconciles with nothing changed.
    pg.calls.reset();
    for (let i = 0; i < 5; i++) await w.controller.reconcile();
    const steady = pg.calls.armWrites();
    await trigger.stop();
    console.error(`reconciler bench: ${reconciles} batched reconciles for 2 bursts`);
    return { writes: initialWrites + churnWrites, minimum: initialMinimum + churnMinimum, steady };
  } finally {
    await pg.stop();
  }
}

/** The cloud's identities as Resource Manager has them, for the in-memory runs. */
function memoryIdentitiesFor(cloud: PlaygroundCloud): MemoryIdentities {
  const ids = new MemoryIdentities();
  for (const i of cloud.identities) ids.set(identityId(cloud.subscriptionId, i.resourceGroup, i.name), i.clientId);
  return ids;
}

function memoryArmFor(cloud: PlaygroundCloud): MemoryArm {
  const arm = new MemoryArm();
  for (const ss of cloud.scaleSets)
    arm.set(
      `/subscriptions/${cloud.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${ss.name}`,
      [identityId(cloud.subscriptionId, RG, "kubelet")],
    );
  return arm;
}

async function cpuRun(): Promise<{ cpuMs: number }> {
  const cloud = benchCloud({ rg: RG, idRg: ID_RG, run: 1 });
  const w = makeWorld(cloud, memoryArmFor(cloud), memoryIdentitiesFor(cloud));
  const all = Array.from({ length: IDENTITIES }, (_, i) => i);
  placePods(w, cloud, all, 0, "p", PER_IDENTITY);
  let cpu = await cpuMs(() => w.controller.reconcile());
  for (const p of w.pods.list())
    if (CHURNED.some((i) => p.labels.aadpodidbinding === `id-${i}`)) w.pods.delete(p.name, p.namespace);
  placePods(w, cloud, CHURNED, 1, "moved", PER_IDENTITY);
  cpu += await cpuMs(() => w.controller.reconcile());
  return { cpuMs: cpu };
}

const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;

export async function runReconcilerBench(): Promise<Record<string, number>> {
  const writes = await writesRun();
  const cpu = await cpuRun();
  return {
    arm_writes: writes.writes,
    arm_writes_minimum: writes.minimum,
    write_ratio_to_min: round(writes.writes / writes.minimum),
    steady_state_writes: writes.steady,
    reconcile_cpu_ms: round(cpu.cpuMs, 1),
    ...(await runScaleBench()),
  };
}

// Run alone: `npx tsx bench/reconciler.ts`.
if (process.argv[1]?.endsWith("reconciler.ts") === true) {
  console.log(await runReconcilerBench());
}
