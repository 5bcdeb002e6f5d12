// The scale run's world: a cluster with podid's objects and 30 nodes in 3 scale sets, the
// Azure stand-ins, realistic pods created through the API server, and the programs started as
// the image runs them (bench/scale.ts runs it; bench/scale/measure.ts reads it).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../../src/kube/request.ts";
import { SYSTEM_NAMESPACE } from "../../src/model/constants.ts";
import { freePort } from "../../src/playground/free-port.ts";
import {
  identityId,
  scaleSetId,
  startAzure,
  type AzurePlayground,
  type PlaygroundCloud,
} from "../../src/playground/azure/index.ts";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/shared/pki.ts";
import { benchCloud } from "../cloud.ts";
import { populate, startBenchCluster, type BenchCluster, type BenchTenants } from "./cluster.ts";
import { podBody, podStatus, type PodPlan } from "./pods.ts";
import { startProgram, waitReady, type Program } from "./programs.ts";
import { settledMemory } from "../proc.ts";

const NAMESPACES = 10;
export const LABELLED_EVERY = 20; // 5%
const RG = "mc_scale_westeurope";
const ID_RG = "scale-identities";
const CONCURRENCY = 32;

function tenants(cloud: PlaygroundCloud): BenchTenants {
  return {
    namespaces: Array.from({ length: NAMESPACES }, (_, n) => `shop-${n}`),
    identities: cloud.identities
      .filter((id) => id.name !== "kubelet")
      .map((id) => ({
        name: id.name,
        clientID: id.clientId,
        resourceID: identityId(cloud.subscriptionId, ID_RG, id.name),
      })),
    nodes: cloud.scaleSets.flatMap((ss, s) =>
      ss.instances.map((inst, i) => ({
        name: inst.computerName,
        providerID: `azure://${scaleSetId(cloud.subscriptionId, RG, ss.name)}/virtualMachines/${inst.instanceId}`,
        internalIP: `127.20.${s}.${i + 1}`,
      })),
    ),
  };
}

/** Pod k of the run: spread over namespaces and nodes; every 20th asks for one of the identities. */
export function plan(k: number, t: BenchTenants): PodPlan {
  const node = t.nodes[k % t.nodes.length]!;
  const labelled = k % LABELLED_EVERY === 0;
  return {
    name: `shop-${k}`,
    namespace: t.namespaces[k % t.namespaces.length]!,
    node: node.name,
    app: `svc-${k % 40}`,
    ...(labelled ? { selector: t.identities[(k / LABELLED_EVERY) % t.identities.length]!.name } : {}),
  };
}

export async function createPods(kc: KubeConfig, t: BenchTenants, ks: number[], what: string): Promise<void> {
  let next = 0;
  const started = Date.now();
  const worker = async (): Promise<void> => {
    while (next < ks.length) {
      const k = ks[next++]!;
      const p = plan(k, t);
      const base = `/api/v1/namespaces/${p.namespace}/pods`;
      await kubeRequest(kc, { method: "POST", path: base, body: podBody(p) });
      const ip = `127.10.${(k >> 8) & 255}.${k & 255}`;
      const hostIP = t.nodes[k % t.nodes.length]!.internalIP;
      await kubeRequest(kc, {
        method: "PATCH",
        path: `${base}/${p.name}/status`,
        contentType: "application/merge-patch+json",
        body: podStatus(ip, hostIP),
      });
      if (next % 5000 === 0) console.error(`  ${what}: ${next} of ${ks.length}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  console.error(`  ${what}: ${ks.length} pods in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`scale run: timed out waiting for ${what}`);
    await sleep(500);
  }
}

export interface Stage {
  dir: string;
  ca: CertificateAuthority;
  cluster: BenchCluster;
  azure: AzurePlayground;
  cloud: PlaygroundCloud;
  tenants: BenchTenants;
  files: { admissionKey: string; tlsCert: string; tlsKey: string; ca: string };
}

function writeFiles(dir: string, ca: CertificateAuthority): Stage["files"] {
  const leaf = ca.issue({ commonName: "podid-webhook", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  const files = {
    admissionKey: join(dir, "admission.key"),
    tlsCert: join(dir, "tls.crt"),
    tlsKey: join(dir, "tls.key"),
    ca: join(dir, "ca.crt"),
  };
  writeFileSync(files.admissionKey, "c2NhbGUtcnVuLWFkbWlzc2lvbi1rZXktMzItYnl0ZXMhIQ\n", { mode: 0o600 });
  writeFileSync(files.tlsCert, leaf.certPem);
  writeFileSync(files.tlsKey, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.ca, ca.certPem);
  return files;
}

export async function startReconciler(s: Stage, port: number, name = "reconciler"): Promise<Program> {
  const sp = s.cloud.servicePrincipals[0]!;
  const p = startProgram(
    name,
    [
      "reconciler",
      ...["--kubeconfig", s.cluster.kubeconfigPath, "--arm-endpoint", s.azure.armUrl, "--ca-file", s.files.ca],
      ...["--namespace", SYSTEM_NAMESPACE, "--batch-window-ms", "500", "--arm-poll-interval-ms", "50"],
      ...["--metrics-port", String(port)],
    ],
    {
      AZURE_TENANT_ID: s.cloud.tenantId,
      AZURE_CLIENT_ID: sp.clientId,
      AZURE_CLIENT_SECRET: sp.secret!,
      AZURE_AUTHORITY_HOST: s.azure.authorityHost,
    },
    s.dir,
  );
  await waitReady(p, `http://127.0.0.1:${port}/metrics`);
  return p;
}

/** The webhook's and an NMI's resident memory once idle (synced, nothing to do), as the image runs them. */
export async function idlePrograms(s: Stage): Promise<{ webhook: number; nmi: number }> {
  const [wp, np] = [await freePort(), await freePort()];
  const common = ["--kubeconfig", s.cluster.kubeconfigPath, "--admission-key-file", s.files.admissionKey];
  const tls = ["--tls-cert-file", s.files.tlsCert, "--tls-key-file", s.files.tlsKey];
  const webhook = startProgram(
    "webhook",
    ["webhook", ...common, ...tls, "--host", "127.0.0.1", "--port", String(wp)],
    {},
    s.dir,
  );
  const node = s.tenants.nodes[0]!;
  const nmi = startProgram(
    "nmi",
    ["nmi", ...common, "--node-name", node.name, "--host", "127.0.0.1", "--port", String(np)].concat([
      "--imds-endpoint",
      s.azure.imdsUrl(node.name),
    ]),
    {},
    s.dir,
  );
  try {
    await waitReady(webhook, `https://127.0.0.1:${wp}/readyz`, s.ca.certPem);
    await waitReady(nmi, `http://127.0.0.1:${np}/readyz`);
    const [w, n] = await Promise.all([settledMemory(webhook.pid), settledMemory(nmi.pid)]);
    return { webhook: w.rssMb, nmi: n.rssMb };
  } finally {
    await Promise.all([webhook.stop(), nmi.stop()]);
  }
}

export async function stage(): Promise<Stage> {
  const dir = mkdtempSync(join(tmpdir(), "podid-scale-"));
  const ca = createCertificateAuthority("podid scale CA");
  const cloud = benchCloud({ rg: RG, idRg: ID_RG, run: 2 });
  const cluster = await startBenchCluster();
  const azure = await startAzure({ cloud, ca, lroDurationMs: 0 });
  const t = tenants(cloud);
  await populate(cluster.kc, t);
  return { dir, ca, cluster, azure, cloud, tenants: t, files: writeFiles(dir, ca) };
}
