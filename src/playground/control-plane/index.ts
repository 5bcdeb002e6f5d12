// A real Kubernetes control plane on loopback, the way controller-runtime's envtest runs one:
// etcd, kube-apiserver and (optionally) kube-controller-manager from KUBEBUILDER_ASSETS, with
// their own PKI in a state folder, started in a few seconds and removed afterwards. Used by the
// real-cluster tests and by `podid playground --kube=real`.
//
// Network safety (required on the development machines, see ../shared/envtest/README.md): the
// service range is a loopback range and aggregator routing is on, so the API server resolves a
// webhook or APIService that names a Service to that Service's endpoints and never dials a
// cluster IP; the address it publishes for the `kubernetes` Service is a documentation address
// that nothing dials. Everything listens on 127.0.0.1.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { freePort } from "../free-port.ts";
import { findAssets, type ControlPlaneAssets } from "./assets.ts";
import { writePki, type ControlPlanePki } from "./pki.ts";
import { logTail, startProcess, type Supervised } from "./process.ts";

export { findAssets, MissingAssetsError, ASSETS_ENV } from "./assets.ts";

/** Loopback service range: a cluster IP, if ever dialled, stays on this machine. */
export const SERVICE_CLUSTER_IP_RANGE = "127.100.0.0/16";
/** RFC 5737 documentation address: published for the `kubernetes` Service, never dialled. */
export const ADVERTISE_ADDRESS = "192.0.2.1";

export interface ControlPlaneOptions {
  /** State folder (PKI, kubeconfig, logs); default a new temp folder, removed by stop(). */
  dir?: string;
  /** Start kube-controller-manager too (Deployments, ReplicaSets, Jobs, GC, namespaces, ServiceAccounts). Default true. */
  controllerManager?: boolean;
  /** Controllers to run (default every one but node lifecycle: nothing heartbeats the nodes). */
  controllers?: string;
  /** Extra kube-apiserver flags. */
  apiServerFlags?: string[];
  /** Binaries; default findAssets(). */
  assets?: ControlPlaneAssets;
  /** How long each component may take to become ready. */
  startTimeoutMs?: number;
  /** The API server's port on 127.0.0.1 (default: a free one). */
  port?: number;
}

export interface ControlPlane {
  url: string;
  port: number;
  /** The service-account token issuer (the API server's URL: it serves the OIDC discovery documents). */
  issuer: string;
  caPem: string;
  dir: string;
  pki: ControlPlanePki;
  /** An admin (system:masters) kubeconfig, as a file and loaded. */
  kubeconfigPath: string;
  kc: KubeConfig;
  logs: { etcd: string; apiServer: string; controllerManager?: string };
  /** A kubeconfig acting as a ServiceAccount (through a TokenRequest), as a file and loaded. */
  serviceAccountKubeconfig(namespace: string, name: string, expirationSeconds?: number): Promise<ServiceAccountAccess>;
  stopApiServer(): Promise<void>;
  /** Starts the API server again on the same port, with the same flags and data. */
  startApiServer(): Promise<void>;
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServiceAccountAccess {
  path: string;
  kc: KubeConfig;
  token: string;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

export function kubeconfigYaml(
  server: string,
  caPem: string,
  user: Record<string, string>,
  name = "podid-real",
): string {
  const userLines = Object.entries(user)
    .map(([k, v]) => `    ${k}: ${v}`)
    .join("\n");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    "users:",
    `- name: ${name}`,
    "  user:",
    userLines,
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    `    user: ${name}`,
    `current-context: ${name}`,
    "",
  ].join("\n");
}

function get(url: string, opts: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const lib = url.startsWith("https:") ? https : http;
    const req = lib.get(url, { ...opts, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, body: "" }));
  });
}

async function waitFor(p: Supervised, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!p.alive)
      throw new Error(`${p.name} exited before it was ready (${await p.exited}); its log ends:\n${logTail(p.logFile)}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  await p.stop(1000);
  throw new Error(`${p.name} was not ready within ${timeoutMs / 1000} s; its log ends:\n${logTail(p.logFile)}`);
}

/** A temp folder on tmpfs when there is one: etcd fsyncs every write, which tmpfs makes free. */
function etcdDataDir(): string {
  try {
    return mkdtempSync(join("/dev/shm", "podid-etcd-"));
  } catch {
    return mkdtempSync(join(tmpdir(), "podid-etcd-"));
  }
}

function apiServerArgs(pki: ControlPlanePki, etcdUrl: string, port: number, extra: string[]): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${port}`,
    `--advertise-address=${ADVERTISE_ADDRESS}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-issuer=https://127.0.0.1:${port}`,
    // Discovery would name the advertise address (TEST-NET, unreachable) in jwks_uri; a verifier
    // of the issuer (the Entra stand-in, loopback only) needs the address the server listens on.
    `--service-account-jwks-uri=https://127.0.0.1:${port}/openid/v1/jwks`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--authorization-mode=Node,RBAC",
    "--enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
    "--allow-privileged=true",
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    "--enable-aggregator-routing=true",
    `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-username-headers=X-Remote-User",
    `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
    `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    ...extra,
  ];
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const assets = opts.assets ?? findAssets();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "podid-control-plane-"));
  mkdirSync(dir, { recursive: true });
  const dataDir = etcdDataDir();
  const timeout = opts.startTimeoutMs ?? 60_000;
  const started: Supervised[] = [];
  const cleanup = async (): Promise<void> => {
    for (const p of started.reverse()) await p.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pki = writePki(dir);
    const [etcdPort, peerPort, port] = [
      await freePort(),
      await freePort(),
      opts.port !== undefined && opts.port !== 0 ? opts.port : await freePort(),
    ];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const logs = { etcd: join(dir, "etcd.log"), apiServer: join(dir, "kube-apiserver.log") };
    const etcd = startProcess(
      "etcd",
      assets.etcd,
      [
        "--name=podid",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=podid=${peerUrl}`,
        "--initial-cluster-state=new",
      ],
      logs.etcd,
    );
    started.push(etcd);
    await waitFor(etcd, async () => (await get(`${etcdUrl}/health`, {})).body.includes('"true"'), timeout);

    const url = `https://127.0.0.1:${port}`;
    const admin = { ca: pki.caPem, cert: pki.adminCertPem, key: pki.adminKeyPem };
    const argsFor = apiServerArgs(pki, etcdUrl, port, opts.apiServerFlags ?? []);
    let apiServer: Supervised | undefined;
    const startApiServer = async (): Promise<void> => {
      if (apiServer?.alive === true) return;
      apiServer = startProcess("kube-apiserver", assets.apiServer, argsFor, logs.apiServer);
      started.push(apiServer);
      const p = apiServer;
      await waitFor(p, async () => (await get(`${url}/readyz`, admin)).status === 200, timeout);
      // readyz turns 200 once the bootstrap controller has started, not once it has created the
      // default namespace: a test that writes there at once would race it (CI saw the 404).
      await waitFor(p, async () => (await get(`${url}/api/v1/namespaces/default`, admin)).status === 200, timeout);
    };
    await startApiServer();

    const kubeconfigPath = join(dir, "admin.kubeconfig");
    writeFileSync(
      kubeconfigPath,
      kubeconfigYaml(url, pki.caPem, {
        "client-certificate-data": b64(pki.adminCertPem),
        "client-key-data": b64(pki.adminKeyPem),
      }),
      { mode: 0o600 },
    );
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);

    let controllerManagerLog: string | undefined;
    if (opts.controllerManager !== false) {
      controllerManagerLog = join(dir, "kube-controller-manager.log");
      const cmPort = await freePort();
      const cm = startProcess(
        "kube-controller-manager",
        assets.controllerManager,
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--authentication-kubeconfig=${kubeconfigPath}`,
          `--authorization-kubeconfig=${kubeconfigPath}`,
          "--use-service-account-credentials",
          `--root-ca-file=${pki.caCert}`,
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          `--controllers=${opts.controllers ?? "*,-nodelifecycle"}`,
          "--leader-elect=false",
          "--bind-address=127.0.0.1",
          `--secure-port=${cmPort}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        ],
        controllerManagerLog,
      );
      started.push(cm);
      await waitFor(
        cm,
        async () => (await get(`https://127.0.0.1:${cmPort}/healthz`, { rejectUnauthorized: false })).status === 200,
        timeout,
      );
    }

    const serviceAccountKubeconfig = async (
      namespace: string,
      name: string,
      expirationSeconds = 3600,
    ): Promise<ServiceAccountAccess> => {
      const { kubeRequest } = await import("../../kube/request.ts");
      const res = await kubeRequest<{ status?: { token?: string } }>(kc, {
        method: "POST",
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`,
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds } },
      });
      const token = res.status?.token;
      if (token === undefined || token === "") throw new Error(`no token issued for ${namespace}/${name}`);
      const path = join(dir, `sa-${namespace}-${name}.kubeconfig`);
      writeFileSync(path, kubeconfigYaml(url, pki.caPem, { token }), { mode: 0o600 });
      const saKc = new KubeConfig();
      saKc.loadFromFile(path);
      return { path, kc: saKc, token };
    };

    return {
      url,
      port,
      issuer: url,
      caPem: pki.caPem,
      dir,
      pki,
      kubeconfigPath,
      kc,
      logs: { ...logs, ...(controllerManagerLog !== undefined ? { controllerManager: controllerManagerLog } : {}) },
      serviceAccountKubeconfig,
      stopApiServer: async () => apiServer?.stop(),
      startApiServer,
      async restartApiServer() {
        await apiServer?.stop();
        await startApiServer();
      },
      stop: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
