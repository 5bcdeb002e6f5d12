// podid on a real control plane (test/helpers/real-cluster.ts), for the real-cluster suite:
// config/default installed with the machine's kubectl, the admission keys and the webhook's
// serving certificate where the README and cert-manager would put them, nodes registered with
// the playground cloud's providerIDs and loopback addresses, a simulated scheduler and kubelet
// for the test namespaces, and podid's programs started as processes (`podid <program>`, as the
// image runs them) under the ServiceAccounts of config/'s RBAC. One such cluster is shared by
// the run (sharedPodid); tests that must change the cluster itself make their own.
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { kubeRequest, isAlreadyExists } from "../../src/kube/request.ts";
import { API_VERSION, BINDING_LABEL, SYSTEM_NAMESPACE, WEBHOOK } from "../../src/model/constants.ts";
import type { ControlPlane, ServiceAccountAccess } from "../../src/playground/control-plane/index.ts";
import { registerNode } from "../../src/playground/control-plane/kubelet.ts";
import {
  startSimulatedKubelet,
  type SimulatedKubelet,
  type SimulatedNode,
} from "../../src/playground/control-plane/simulated-kubelet.ts";
import { pointWebhooksAt } from "../../src/playground/control-plane/webhooks.ts";
import { defaultCloud, identityId, nodesOf } from "../../src/playground/azure/index.ts";
import { freePort } from "../../src/playground/free-port.ts";
import { renderKustomization } from "../../src/playground/install.ts";
import { nodeIp } from "../../src/playground/kube/controllers/nodes.ts";
import { spawnPodid, waitReady, type ProgramHandle } from "../../src/playground/processes.ts";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/shared/pki.ts";
import { dnsNamesFor } from "../../src/webhook/self-signed.ts";
import type { AzureFixture } from "./azure.ts";
import { eventually } from "./eventually.ts";
import type { Run } from "./kubectl.ts";
import { kubectlOn, sharedRealCluster, uniqueNamespace } from "./real-cluster.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** config/'s ServiceAccount of each program. */
export const ACCOUNTS = { webhook: "podid-webhook", reconciler: "podid-reconciler", nmi: "podid-nmi" } as const;
export type Program = keyof typeof ACCOUNTS;

/** A label on the nodes the simulated kubelet runs (a DaemonSet's nodeSelector can keep to them). */
export const SIMULATED_NODE_LABEL = { "podid.test/kubelet": "simulated" } as const;

/** The playground cloud's nodes, with this run's loopback node addresses. */
export const NODES: Array<SimulatedNode & { providerID: string; labels: Record<string, string> }> = nodesOf(
  defaultCloud(),
).map((n, i) => ({
  name: n.name,
  providerID: n.providerID,
  internalIP: nodeIp(i),
  labels: { ...SIMULATED_NODE_LABEL },
}));

export interface RunningProgram extends ProgramHandle {
  port: number;
  url: string;
}

export interface PodidCluster {
  cp: ControlPlane;
  dir: string;
  logDir: string;
  /** The admission key, in the Secret the README creates and in a file for the programs. */
  keyFile: string;
  /** Plays cert-manager's CA: it signed the serving certificate in Secret podid-webhook-tls. */
  ca: CertificateAuthority;
  tls: { certFile: string; keyFile: string };
  kubelet: SimulatedKubelet;
  kubectl(args: string[], stdin?: string, kubeconfig?: string): Promise<Run>;
  /** A kubeconfig acting as a ServiceAccount of podid-system (config/'s, by default). */
  account(name: string): Promise<ServiceAccountAccess>;
  /** Creates a namespace the simulated kubelet serves, once its default ServiceAccount exists. */
  namespace(prefix: string, labels?: Record<string, string>): Promise<string>;
  /** Points both webhook configurations at a webhook listening on 127.0.0.1:port. */
  pointWebhooksAt(port: number): Promise<void>;
  startWebhook(o?: ProgramOptions): Promise<RunningProgram>;
  startReconciler(azure: AzureFixture, o?: ProgramOptions): Promise<RunningProgram>;
  startNmi(node: string, azure: AzureFixture, o?: ProgramOptions): Promise<RunningProgram>;
  stop(): Promise<void>;
}

export interface ProgramOptions {
  name?: string;
  /** A kubeconfig file (default: the program's ServiceAccount from config/). */
  kubeconfig?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for readiness (default true). */
  wait?: boolean;
  /** The port to listen on (default: a free one). */
  port?: number;
}

/** config/default rendered by the machine's kubectl, without cert-manager's kinds. */
export async function withoutCertManager(dir = join(ROOT, "config", "default")): Promise<string> {
  const objects = await renderKustomization(dir);
  return objects
    .filter((o) => !o.apiVersion.startsWith("cert-manager.io/"))
    .map((o) => stringify(o))
    .join("---\n");
}

/** What cert-manager would write: the serving certificate (for the Service and 127.0.0.1) from a CA of its own. */
export async function playCertManager(
  cp: ControlPlane,
  dir: string,
): Promise<{ ca: CertificateAuthority; certFile: string; keyFile: string }> {
  const ca = createCertificateAuthority("podid-webhook-ca");
  const serving = ca.issue({
    commonName: `${WEBHOOK.serviceName}.${SYSTEM_NAMESPACE}.svc`,
    dnsNames: dnsNamesFor(WEBHOOK.serviceName, SYSTEM_NAMESPACE),
    ipAddresses: ["127.0.0.1"],
  });
  mkdirSync(join(dir, "tls"), { recursive: true });
  const certFile = join(dir, "tls", "tls.crt");
  const keyFile = join(dir, "tls", "tls.key");
  writeFileSync(certFile, serving.certPem);
  writeFileSync(keyFile, serving.keyPem, { mode: 0o600 });
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  try {
    await kubeRequest(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        type: "kubernetes.io/tls",
        metadata: { name: "podid-webhook-tls" },
        data: { "ca.crt": b64(ca.certPem), "tls.crt": b64(serving.certPem), "tls.key": b64(serving.keyPem) },
      },
    });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
  return { ca, certFile, keyFile };
}

export async function registerNodes(cp: ControlPlane): Promise<void> {
  for (const n of NODES) {
    try {
      await registerNode(cp.kc, n);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }
}

async function startProgram(
  p: { logDir: string; ca: CertificateAuthority },
  name: string,
  args: string[],
  ready: { url: string; tls: boolean },
  o: ProgramOptions,
  env?: Record<string, string>,
): Promise<ProgramHandle> {
  const handle = spawnPodid({ name, logDir: p.logDir, args: [...args, ...(o.args ?? [])], env: { ...env, ...o.env } });
  if (o.wait !== false) {
    try {
      await waitReady(handle, ready.url, ready.tls ? p.ca.certPem : undefined);
    } catch (e) {
      await handle.stop();
      throw e;
    }
  }
  return handle;
}

/** Installs podid on `cp` (config/default without cert-manager's kinds, keys, TLS) and returns its handles. */
export async function podidOn(cp: ControlPlane, o: { install?: boolean } = {}): Promise<PodidCluster> {
  const dir = mkdtempSync(join(tmpdir(), "podid-real-"));
  const logDir = join(dir, "logs");
  const run = (args: string[], stdin?: string, kubeconfig?: string): Promise<Run> =>
    kubectlOn(cp, args, stdin, kubeconfig);
  const key = randomBytes(32).toString("base64");
  const keyFile = join(dir, "admission.key");
  writeFileSync(keyFile, key + "\n", { mode: 0o600 });
  if (o.install !== false) {
    const applied = await run(["apply", "-f", "-"], await withoutCertManager());
    if (applied.code !== 0) throw new Error(`installing config/default failed: ${applied.stderr}`);
    const secret = await run([
      "-n",
      SYSTEM_NAMESPACE,
      "create",
      "secret",
      "generic",
      WEBHOOK.admissionKeySecretName,
      `--from-literal=keys=${key}`,
    ]);
    if (secret.code !== 0 && !secret.stderr.includes("AlreadyExists"))
      throw new Error(`creating the admission keys failed: ${secret.stderr}`);
  }
  const { ca, certFile, keyFile: tlsKey } = await playCertManager(cp, dir);
  await registerNodes(cp);
  const namespaces = new Set<string>();
  mkdirSync(logDir, { recursive: true });
  const kubeletLog = join(logDir, "simulated-kubelet.log");
  const kubelet = startSimulatedKubelet(cp.kc, {
    nodes: NODES,
    selectPod: (ns) => namespaces.has(ns),
    onError: (what, err) =>
      appendFileSync(kubeletLog, `${what}: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  await kubelet.ready;
  const accounts = new Map<string, Promise<ServiceAccountAccess>>();
  const started: ProgramHandle[] = [];
  const track = <T extends ProgramHandle>(h: T): T => (started.push(h), h);
  const kubeconfigOf = async (program: Program, opts: ProgramOptions): Promise<string> =>
    opts.kubeconfig ?? (await p.account(ACCOUNTS[program])).path;

  const p: PodidCluster = {
    cp,
    dir,
    logDir,
    keyFile,
    ca,
    tls: { certFile, keyFile: tlsKey },
    kubelet,
    kubectl: run,
    account(name) {
      let a = accounts.get(name);
      if (a === undefined) {
        a = cp.serviceAccountKubeconfig(SYSTEM_NAMESPACE, name, 24 * 3600);
        accounts.set(name, a);
      }
      return a;
    },
    async namespace(prefix, labels = {}) {
      const ns = uniqueNamespace(prefix);
      namespaces.add(ns);
      await kubeRequest(cp.kc, {
        method: "POST",
        path: "/api/v1/namespaces",
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } },
      });
      await eventually(async () => {
        const r = await run(["get", "serviceaccount", "default", "-n", ns]);
        return r.code === 0 ? true : undefined;
      }, `the default ServiceAccount of ${ns}`);
      return ns;
    },
    pointWebhooksAt: (port) =>
      pointWebhooksAt(
        cp.kc,
        { mutating: WEBHOOK.mutatingConfigName, validating: WEBHOOK.validatingConfigName },
        `https://127.0.0.1:${port}`,
        ca.certPem,
      ),
    async startWebhook(opts = {}) {
      const port = await freePort();
      const url = `https://127.0.0.1:${port}`;
      const args = [
        "webhook",
        "--kubeconfig",
        await kubeconfigOf("webhook", opts),
        "--admission-key-file",
        keyFile,
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--tls-cert-file",
        certFile,
        "--tls-key-file",
        tlsKey,
      ];
      const h = await startProgram(p, opts.name ?? "webhook", args, { url: `${url}/readyz`, tls: true }, opts);
      return track({ ...h, port, url });
    },
    async startReconciler(azure, opts = {}) {
      const port = await freePort();
      const sp = azure.cloud.servicePrincipals[0]!;
      const args = [
        "reconciler",
        "--kubeconfig",
        await kubeconfigOf("reconciler", opts),
        "--arm-endpoint",
        azure.pg.armUrl,
        "--ca-file",
        caFile(dir, azure.pg.caPem),
        "--leader-elect",
        "--batch-window-ms",
        "100",
        "--arm-poll-interval-ms",
        "50",
        "--removal-grace-seconds",
        "1",
        "--metrics-port",
        String(port),
      ];
      const env = {
        AZURE_TENANT_ID: azure.pg.tenantId,
        AZURE_CLIENT_ID: sp.clientId,
        AZURE_CLIENT_SECRET: sp.secret!,
        AZURE_AUTHORITY_HOST: azure.pg.authorityHost,
      };
      const url = `http://127.0.0.1:${port}`;
      const h = await startProgram(
        p,
        opts.name ?? "reconciler",
        args,
        { url: `${url}/metrics`, tls: false },
        opts,
        env,
      );
      return track({ ...h, port, url });
    },
    async startNmi(node, azure, opts = {}) {
      const n = NODES.find((x) => x.name === node);
      if (n === undefined) throw new Error(`no node ${node}`);
      const port = opts.port ?? (await freePort());
      const args = [
        "nmi",
        "--kubeconfig",
        await kubeconfigOf("nmi", opts),
        "--admission-key-file",
        keyFile,
        "--node-name",
        node,
        "--host",
        n.internalIP,
        "--port",
        String(port),
        "--imds-endpoint",
        azure.pg.imdsUrl(node),
        "--authority-host",
        azure.pg.authorityHost,
        "--authority-ca-file",
        caFile(dir, azure.pg.caPem),
      ];
      const url = `http://${n.internalIP}:${port}`;
      const h = await startProgram(p, opts.name ?? `nmi-${node}`, args, { url: `${url}/readyz`, tls: false }, opts);
      return track({ ...h, port, url });
    },
    async stop() {
      kubelet.stop();
      await Promise.all(started.map((h) => h.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return p;
}

function caFile(dir: string, pem: string): string {
  const f = join(dir, "azure-ca.pem");
  writeFileSync(f, pem);
  return f;
}

/** An AzureIdentity for one of the playground cloud's identities and a binding of `selector` to it, in `ns`. */
export function identityAndBinding(azure: AzureFixture, identity: string, selector: string, nmiMode?: string): string {
  const id = azure.cloud.identities.find((i) => i.name === identity);
  if (id === undefined) throw new Error(`the playground cloud has no identity ${identity}`);
  const resourceID = identityId(azure.cloud.subscriptionId, id.resourceGroup, id.name);
  return [
    {
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: identity },
      spec: { type: 0, ResourceID: resourceID, ClientID: id.clientId },
    },
    {
      apiVersion: API_VERSION,
      kind: "AzureIdentityBinding",
      metadata: { name: `${identity}-${selector}` },
      spec: { AzureIdentity: identity, Selector: selector, ...(nmiMode !== undefined ? { nmiMode } : {}) },
    },
  ]
    .map((o) => JSON.stringify(o))
    .join("\n");
}

export interface PodView {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  spec: {
    nodeName?: string;
    serviceAccountName: string;
    containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
  };
  status: { phase?: string; podIP?: string; hostIP?: string };
}

/** A pod with these labels, on `node` when given (as if scheduled there), as kubectl input. */
export function podManifest(name: string, labels: Record<string, string>, node?: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: {
      ...(node !== undefined ? { nodeName: node } : {}),
      containers: [{ name: "app", image: "example.azurecr.io/app:1.0" }],
    },
  });
}

/** A pod labelled `selector` (and app=name). */
export const labelledPod = (name: string, selector: string, node?: string): string =>
  podManifest(name, { app: name, [BINDING_LABEL]: selector }, node);

/** Waits for the pod to be Running and returns it. */
export function runningPod(p: PodidCluster, ns: string, name: string): Promise<PodView> {
  return eventually(async () => {
    const pod = await kubeRequest<PodView>(p.cp.kc, { path: `/api/v1/namespaces/${ns}/pods/${name}` }).catch(
      () => undefined,
    );
    return pod?.status.phase === "Running" && pod.status.podIP !== undefined ? pod : undefined;
  }, `pod ${ns}/${name} to run`);
}

/**
 * Creates a labelled pod on `node` once the webhook admits it (its informers see a new binding a
 * moment after it is stored), and waits for it to run.
 */
export async function admittedPod(
  p: PodidCluster,
  ns: string,
  name: string,
  selector: string,
  node: string,
): Promise<PodView> {
  await slowly(async () => {
    const r = await p.kubectl(["create", "-n", ns, "-f", "-"], labelledPod(name, selector, node));
    return r.code === 0 ? true : undefined;
  }, `the webhook to admit ${ns}/${name}`);
  return runningPod(p, ns, name);
}

/** Waits for the pod's AzureAssignedIdentity to reach `status` and returns it. */
export function assignment(
  p: PodidCluster,
  pod: PodView,
  status = "Assigned",
): Promise<{
  metadata: { name: string };
  spec: Record<string, unknown>;
  status: { status: string; target?: string; reason?: string };
}> {
  type Aai = {
    metadata: { name: string };
    spec: { podUID: string } & Record<string, unknown>;
    status?: { status: string; target?: string; reason?: string };
  };
  return slowly(async () => {
    const list = await kubeRequest<{ items: Aai[] }>(p.cp.kc, {
      path: `/apis/${API_VERSION}/namespaces/${pod.metadata.namespace}/azureassignedidentities`,
    });
    const a = list.items.find((x) => x.spec.podUID === pod.metadata.uid && x.status?.status === status);
    return a !== undefined ? { ...a, status: a.status! } : undefined;
  }, `the AzureAssignedIdentity of ${pod.metadata.name} to be ${status}`);
}

/** Like eventually, for what takes a reconciler a few seconds: about 30 s. */
export async function slowly<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  what: string,
  attempts = 150,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** An HTTP GET from the pod's own address (how the NMI tells pods apart), e.g. the IMDS token path. */
export function fromPod(
  podIP: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { localAddress: podIP, headers: { Metadata: "true", ...headers }, timeout: 30_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer`)));
    req.on("error", reject);
  });
}

/** The IMDS token path for a resource (and a client ID when the pod has several identities). */
export const tokenPath = (resource: string, clientId?: string): string =>
  `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}` +
  (clientId !== undefined ? `&client_id=${clientId}` : "");

let shared: Promise<{ p: PodidCluster; webhook: RunningProgram }> | undefined;

/**
 * The run's shared real cluster with podid installed and one webhook running (as podid-webhook),
 * the webhook configurations pointed at it. A test that stops or repoints the webhook restores it.
 */
export function sharedPodid(): Promise<{ p: PodidCluster; webhook: RunningProgram }> {
  shared ??= (async () => {
    const p = await podidOn(await sharedRealCluster());
    const webhook = await p.startWebhook({ name: "shared-webhook" });
    await p.pointWebhooksAt(webhook.port);
    return { p, webhook };
  })();
  return shared;
}

export async function stopSharedPodid(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s !== undefined) await (await s.catch(() => undefined))?.p.stop();
}
