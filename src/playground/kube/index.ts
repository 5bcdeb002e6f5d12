// The playground's loopback Kubernetes API server: HTTPS on 127.0.0.1 with its own CA, bearer
// tokens, in-memory storage, admission webhooks, CRDs, and simulated control plane (namespace
// and garbage collection, Deployments, scheduler and kubelet). A development and test tool
// that behaves like a real apiserver wherever podid, kubectl or client-node touch it.
import { randomBytes, randomUUID } from "node:crypto";
import { stringify } from "yaml";
import { createCertificateAuthority, type CertificateAuthority } from "../../shared/pki.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { KubeApi, now } from "./api.ts";
import { startCoreControllers } from "./controllers/core.ts";
import { DEFAULT_NODES, startNodeSimulation, type NodeSpec } from "./controllers/nodes.ts";
import { startWorkloadControllers } from "./controllers/workloads.ts";
import { buildHttpApp } from "./http.ts";
import { Registry } from "./resources.ts";
import { Store } from "./store.ts";
import { TokenApi } from "./token-api.ts";
import { TokenSigner } from "./tokens.ts";
import { getPath, isRecord, type KObject, type UserInfo } from "./types.ts";

export type { KObject } from "./types.ts";
export type { NodeSpec } from "./controllers/nodes.ts";

export interface KubeApiOptions {
  host?: string;
  port?: number;
  /** The CA that signs the serving certificate (created if absent). */
  ca?: CertificateAuthority;
  /** Nodes to create (default: two scale-set instances and one standalone VM). */
  nodes?: NodeSpec[];
  /** Scheduler + kubelet simulation (pods get a node, an IP and phase Running). Default true. */
  simulateKubelet?: boolean;
  /** Where a webhook `clientConfig.service` really listens; else the service's Endpoints object is used. */
  webhookServiceResolver?: (
    namespace: string,
    name: string,
    port: number,
  ) => { host: string; port: number } | undefined;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (default 10s). */
  bookmarkIntervalMs?: number;
  /** Watch history kept per resource before old versions answer 410 Gone. */
  watchHistoryLimit?: number;
  logger?: Logger;
}

export interface KubeApiServer {
  url: string;
  caPem: string;
  /** The admin bearer token. */
  token: string;
  kubeconfigYaml(): string;
  /** In-process access for tests and the playground (same semantics as the HTTP API). */
  readonly api: KubeApi;
  /** The InternalIP of each simulated node, by node name. */
  readonly nodeIps: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

export const ADMIN_USER: UserInfo = {
  username: "kubernetes-admin",
  groups: ["system:masters", "system:authenticated"],
};
const BOOTSTRAP_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** The address a webhook service resolves to from its Endpoints (and Service targetPort). */
function endpointsResolver(
  api: KubeApi,
): (ns: string, name: string, port: number) => { host: string; port: number } | undefined {
  return (ns, name, port) => {
    const ep = api.store.get("endpoints", ns, name);
    const svc = api.store.get("services", ns, name);
    const svcPorts = getPath(svc, "spec.ports");
    const sp: unknown = Array.isArray(svcPorts)
      ? (svcPorts as unknown[]).find((p) => isRecord(p) && p.port === port)
      : undefined;
    const target = isRecord(sp) && typeof sp.targetPort === "number" ? sp.targetPort : port;
    const subsets = getPath(ep, "subsets");
    if (!Array.isArray(subsets)) return undefined;
    for (const s of subsets) {
      if (!isRecord(s) || !Array.isArray(s.addresses) || !isRecord(s.addresses[0])) continue;
      const ports = Array.isArray(s.ports) ? s.ports.filter(isRecord) : [];
      const p = ports.find((x) => x.port === target) ?? (ports.length === 1 ? ports[0] : undefined);
      return { host: String(s.addresses[0].ip), port: typeof p?.port === "number" ? p.port : target };
    }
    return undefined;
  };
}

function bootstrap(api: KubeApi): void {
  const nsDef = api.registry.byResourceKey("namespaces")!;
  for (const name of BOOTSTRAP_NAMESPACES) {
    const o: KObject = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, uid: randomUUID(), creationTimestamp: now(), labels: { "kubernetes.io/metadata.name": name } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    };
    api.store.put(nsDef, o);
  }
}

export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApiServer> {
  const host = opts.host ?? "127.0.0.1";
  const log = opts.logger ?? createLogger("playground-kube");
  const ca = opts.ca ?? createCertificateAuthority();
  const serving = ca.issue({
    commonName: "kube-apiserver",
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    ipAddresses: [...new Set(["127.0.0.1", host])],
  });
  const adminToken = randomBytes(24).toString("hex");
  const registry = new Registry();
  const store = new Store(opts.watchHistoryLimit);
  let resolver: (ns: string, name: string, port: number) => { host: string; port: number } | undefined = () =>
    undefined;
  const api = new KubeApi(
    registry,
    store,
    (ns, name, port) => resolver(ns, name, port),
    (webhook, err) =>
      log.warn({ webhook, err: err instanceof Error ? err.message : String(err) }, "webhook call failed"),
  );
  const fallback = endpointsResolver(api);
  resolver = (ns, name, port) => opts.webhookServiceResolver?.(ns, name, port) ?? fallback(ns, name, port);
  let url = "";
  // The issuer is the server's URL (as --service-account-issuer on a real cluster), so Entra can
  // fetch its discovery document and keys at `${iss}/.well-known/openid-configuration`.
  const tokens = new TokenApi(api, new TokenSigner(), undefined, () => url);
  const onError = (what: string, err: unknown): void =>
    log.error({ err: err instanceof Error ? err.message : String(err) }, `${what} failed`);
  const stopCore = startCoreControllers(api, { caPem: ca.certPem, onError });
  bootstrap(api);
  const stopWorkloads = startWorkloadControllers(api, onError);
  const nodes = startNodeSimulation(api, {
    nodes: opts.nodes ?? DEFAULT_NODES,
    onError,
    simulate: opts.simulateKubelet ?? true,
  });

  const { app, closeWatches } = buildHttpApp(api, {
    https: { key: serving.keyPem, cert: serving.certPem },
    authenticate: (token) => (token === adminToken ? ADMIN_USER : tokens.authenticate(token)),
    tokens,
    serverAddress: () => url,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000,
    jwks: () => tokens.signer.jwks(),
    issuer: () => url,
  });
  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  log.info({ url }, "playground Kubernetes API listening");

  return {
    url,
    caPem: ca.certPem,
    token: adminToken,
    api,
    nodeIps: nodes.nodeIps,
    kubeconfigYaml: () => kubeconfigYaml(url, ca.certPem, adminToken),
    async stop() {
      nodes.stop();
      stopWorkloads();
      stopCore();
      closeWatches();
      api.admission.close();
      await app.close();
    },
  };
}

export function kubeconfigYaml(server: string, caPem: string, token: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "podid-playground",
        cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
      },
    ],
    users: [{ name: "podid-admin", user: { token } }],
    contexts: [
      { name: "podid-playground", context: { cluster: "podid-playground", user: "podid-admin", namespace: "default" } },
    ],
    "current-context": "podid-playground",
    preferences: {},
  });
}
