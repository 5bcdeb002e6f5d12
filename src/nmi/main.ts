// Wiring for `podid nmi`: builds the caches, token sources, the apps (pods by address on the
// plain port; sidecars by their pod's token on the TLS port) and the iptables redirect from
// options, starts listening, and tears down on close. The redirect's rules stay when it
// closes (fail closed); removeIptablesRules is the explicit act that takes them away.
import { readFileSync } from "node:fs";
import type { Server as TlsServer } from "node:tls";
import type { KubeConfig } from "@kubernetes/client-node";
import { API_VERSION, DEFAULTS, FEDERATION, LIMITS, SIDECAR, SIDECAR_PORT } from "../model/constants.ts";
import type { AzureIdentity } from "../model/types.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { createEventRecorder, type EventRecorder } from "../kube/events.ts";
import { loadAdmissionKeys, type AdmissionKeys } from "../policy/admission-mark.ts";
import { readTls, watchFiles } from "../shared/files.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { registerCommonMetrics, registerProcessMetrics, serveMetricsOnly } from "../shared/metrics.ts";
import { buildNmiApp, type NmiAppDeps } from "./app.ts";
import { DEFAULT_FEDERATION_TOKEN_FILE, FederatedSources, rateLimited } from "./federated.ts";
import type { ImdsError } from "./imds.ts";
import { computeRules, keepRulesApplied, removeRules } from "./iptables.ts";
import { startKubeView, kubeSecretReader, type KubeView } from "./kube-view.ts";
import { UpstreamLimiter } from "./limiter.ts";
import { createNmiMetrics, createSidecarMetrics, type NmiMetrics } from "./metrics.ts";
import { buildSidecarApp, fileTokenReader } from "./sidecar.ts";
import { TokenCache } from "./token-cache.ts";
import { kubeTokenReviewer } from "./token-review.ts";
import { ImdsClient, servicePrincipalSource, type TokenSource } from "./token-sources.ts";
import { TokenService } from "./tokens.ts";

export interface NmiOptions {
  mode: "daemonset" | "sidecar";
  nodeName?: string;
  host: string;
  port?: number;
  imdsEndpoint: string;
  admissionKeyFile?: string;
  kubeconfig?: string;
  authorityHost: string;
  /** PEM file of an extra CA to trust for the authority (a private or stand-in Entra ID). */
  authorityCaFile?: string;
  /** The Entra tenant of federated identities; required only once a Federated assignment is served. */
  tenantId?: string;
  /** The NMI's projected service-account token (audience api://AzureADTokenExchange) it exchanges at Entra. */
  federationTokenFile?: string;
  proxyPaths: string[];
  assignmentWaitSeconds: number;
  /** DaemonSet mode: own the iptables redirect of metadataIp:80 to nodeIp:port. */
  iptablesRedirect: boolean;
  nodeIp?: string;
  podInterfaces: string[];
  metadataAddress: string;
  /** When non-empty, only these uids on the node itself (hostNetwork pods included) may reach the metadata address. */
  hostMetadataUids?: number[];
  /** DaemonSet mode: the TLS listener sidecars present their pod's token on (both files, or neither: no listener). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  sidecarPort?: number;
  /** Sidecar mode. */
  nmiEndpoint?: string;
  tokenFile: string;
  /** Sidecar mode: the CA (PEM) the node NMI's certificate is verified against, and the name on it. */
  nmiCaPem?: string;
  nmiServerName?: string;
  /** Sidecar mode: also serve /metrics on this port of every address (the token port stays on loopback). */
  metricsPort?: number;
  logger?: Logger;
}

export interface RunningNmi {
  /** The URL the server listens on. */
  url: string;
  /** The sidecar listener's URL (https), when it runs. */
  sidecarUrl?: string;
  close(): Promise<void>;
}

const KEY_RELOAD_MS = 30_000;
const TLS_RELOAD_MS = 10_000;
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function watchKeys(file: string, log: Logger): { get(): AdmissionKeys; stop(): void } {
  let keys = loadAdmissionKeys(file);
  // Re-read so a rotated key file takes effect without a restart; a bad file keeps the old keys.
  const timer = setInterval(() => {
    try {
      keys = loadAdmissionKeys(file);
    } catch (err) {
      log.error({ err: errText(err) }, "admission key file unreadable; keeping the previous keys");
    }
  }, KEY_RELOAD_MS);
  timer.unref();
  return { get: () => keys, stop: () => clearInterval(timer) };
}

async function runSidecar(opts: NmiOptions, log: Logger): Promise<RunningNmi> {
  const nodeEndpoint = opts.nmiEndpoint ?? process.env[SIDECAR.nodeEndpointEnv];
  if (nodeEndpoint === undefined || nodeEndpoint === "")
    throw new Error(`--nmi-endpoint (or ${SIDECAR.nodeEndpointEnv}) is required in sidecar mode: the node NMI's URL`);
  const caPem = opts.nmiCaPem ?? process.env[SIDECAR.caEnv];
  if (caPem === undefined || caPem.trim() === "")
    throw new Error(
      `--nmi-ca-file (or ${SIDECAR.caEnv}) is required in sidecar mode: the CA the node NMI's certificate is checked with`,
    );
  const serverName = opts.nmiServerName ?? process.env[SIDECAR.serverNameEnv];
  const metrics = createSidecarMetrics();
  registerProcessMetrics(metrics.registry);
  const app = buildSidecarApp({
    nodeEndpoint,
    caPem,
    ...(serverName !== undefined && serverName !== "" ? { serverName } : {}),
    readToken: fileTokenReader(opts.tokenFile),
    metrics,
  });
  const url = await app.listen({ host: opts.host, port: opts.port ?? SIDECAR_PORT });
  // Prometheus scrapes the pod's address; the token endpoint must stay on the pod's loopback.
  const scrape =
    opts.metricsPort !== undefined ? await serveMetricsOnly(metrics.registry, opts.metricsPort) : undefined;
  log.info({ url, nodeEndpoint, metrics: scrape?.url }, "NMI sidecar listening");
  return {
    url,
    async close() {
      await scrape?.app.close();
      await app.close();
    },
  };
}

/** Event reason on an AzureIdentity whose federated exchange Entra refused (podid doctor reads the last one). */
export const FEDERATION_FAILED_REASON = FEDERATION.exchangeFailedReason;
const FEDERATION_EVENT_WINDOW_MS = 60_000;

/** Records a refused exchange as a Warning Event on the AzureIdentity: code and message, never a token. */
function federationEvents(
  events: EventRecorder,
): (identity: AzureIdentity, code: string | undefined, e: ImdsError) => void {
  type Args = [AzureIdentity, string | undefined, ImdsError];
  return rateLimited<Args>(
    (identity, code) => [identity.metadata.namespace, identity.metadata.name, identity.metadata.uid, code].join("/"),
    (identity, _code, e) =>
      events.record(
        {
          apiVersion: API_VERSION,
          kind: "AzureIdentity",
          name: identity.metadata.name,
          namespace: identity.metadata.namespace ?? "",
          ...(identity.metadata.uid !== undefined ? { uid: identity.metadata.uid } : {}),
        },
        "Warning",
        FEDERATION_FAILED_REASON,
        e.description,
      ),
    FEDERATION_EVENT_WINDOW_MS,
  );
}

function tokenService(
  opts: NmiOptions,
  kc: KubeConfig,
  metrics: NmiMetrics,
  imds: ImdsClient,
  events: EventRecorder,
): TokenService {
  const readSecret = kubeSecretReader(kc);
  const authority = {
    authorityHost: opts.authorityHost,
    ...(opts.authorityCaFile !== undefined ? { caPem: readFileSync(opts.authorityCaFile, "utf8") } : {}),
  };
  const federated = new FederatedSources({
    ...(opts.tenantId !== undefined ? { tenantId: opts.tenantId } : {}),
    tokenFile: opts.federationTokenFile ?? DEFAULT_FEDERATION_TOKEN_FILE,
    authority,
    onFailure: federationEvents(events),
  });
  const counted = (kind: string, source: TokenSource): TokenSource => ({
    getToken: (resource) =>
      source.getToken(resource).then(
        (t) => (metrics.upstream.inc({ kind, outcome: "ok" }), t),
        (err: unknown) => {
          metrics.upstream.inc({ kind, outcome: "error" });
          throw err;
        },
      ),
  });
  return new TokenService(
    (identity, source) => {
      if (identity.type !== 0) return counted("entra", servicePrincipalSource(identity, readSecret, authority));
      if (source === "Federated") return counted("entra-federated", federated.source(identity));
      return imds.source({ resourceID: identity.resourceID ?? "", clientID: identity.clientID });
    },
    new TokenCache(),
    metrics,
  );
}

/** The sidecar (TLS) listener, its certificate reloaded when cert-manager rotates the files. */
async function startSidecarListener(
  opts: NmiOptions,
  deps: NmiAppDeps,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> } | undefined> {
  if (opts.tlsCertFile === undefined && opts.tlsKeyFile === undefined) {
    log.warn("no --tls-cert-file/--tls-key-file: sidecar-mode pods cannot reach this NMI");
    return undefined;
  }
  if (opts.tlsCertFile === undefined || opts.tlsKeyFile === undefined)
    throw new Error("--tls-cert-file and --tls-key-file go together (the sidecar listener's certificate and key)");
  const [certFile, keyFile] = [opts.tlsCertFile, opts.tlsKeyFile];
  const app = buildNmiApp({ ...deps, listener: "sidecars", https: readTls(certFile, keyFile) });
  const url = await app.listen({ host: opts.host, port: opts.sidecarPort ?? DEFAULTS.nmiSidecarPort });
  const stop = watchFiles([certFile, keyFile], TLS_RELOAD_MS, () => {
    try {
      (app.server as unknown as TlsServer).setSecureContext(readTls(certFile, keyFile));
      log.info("sidecar listener certificate reloaded");
    } catch (err) {
      log.error({ err: errText(err) }, "sidecar listener certificate unreadable; keeping the previous one");
    }
  });
  return {
    url,
    close: async () => {
      stop();
      await app.close();
    },
  };
}

/** The redirect and its guard, kept applied; stopping leaves them in place (fail closed). */
async function startRedirect(opts: NmiOptions, port: number, log: Logger): Promise<{ stop(): void } | undefined> {
  if (!opts.iptablesRedirect) return undefined;
  const nodeIp = opts.nodeIp ?? opts.host;
  const plan = computeRules({
    metadataIp: opts.metadataAddress,
    metadataPort: 80,
    nodeIp,
    nmiPort: port,
    podInterfaces: opts.podInterfaces,
    ...(opts.hostMetadataUids !== undefined && opts.hostMetadataUids.length > 0
      ? { hostAllowedUids: opts.hostMetadataUids }
      : {}),
  });
  const rules = await keepRulesApplied(plan, {
    intervalMs: 60_000,
    onError: (err) => log.error({ err: errText(err) }, "iptables re-sync failed"),
  });
  log.info({ chain: plan.chain, nodeIp, port }, "metadata redirect applied (it stays when the NMI stops)");
  return rules;
}

export async function runNmi(opts: NmiOptions): Promise<RunningNmi> {
  const log = opts.logger ?? createLogger("nmi");
  if (opts.mode === "sidecar") return runSidecar(opts, log);
  const nodeName = opts.nodeName ?? process.env.NODE_NAME;
  if (nodeName === undefined || nodeName === "")
    throw new Error("--node-name (or NODE_NAME) is required in daemonset mode");
  if (opts.admissionKeyFile === undefined)
    throw new Error("--admission-key-file is required in daemonset mode (the key shared with the webhook)");
  const keys = watchKeys(opts.admissionKeyFile, log);
  const kc = loadKubeConfig(opts.kubeconfig);
  const metrics = createNmiMetrics();
  registerCommonMetrics(metrics.registry);
  const view: KubeView = await startKubeView(kc, nodeName, log);
  const limiter = new UpstreamLimiter({
    perSecond: LIMITS.imdsRequestsPerSecond,
    concurrent: LIMITS.imdsConcurrentRequests,
  });
  const imds = new ImdsClient(opts.imdsEndpoint, limiter, (kind, outcome) =>
    metrics.upstream.inc({ kind: `imds-${kind}`, outcome }),
  );
  const events = createEventRecorder(kc, {
    component: "podid-nmi",
    instance: nodeName,
    onError: (err) => log.warn({ err: errText(err) }, "could not record an Event"),
  });
  const deps: NmiAppDeps = {
    nodeName,
    view,
    admissionKeys: () => keys.get(),
    tokens: tokenService(opts, kc, metrics, imds, events),
    imds,
    reviewToken: kubeTokenReviewer(kc, DEFAULTS.sidecarTokenAudience),
    proxyPaths: opts.proxyPaths,
    assignmentWaitMs: opts.assignmentWaitSeconds * 1000,
    metrics,
    watchesHealthy: () => view.healthy(),
    logger: log,
  };
  const app = buildNmiApp(deps);
  const port = opts.port ?? DEFAULTS.nmiPort;
  // Closed in reverse: the redirect timer, the sidecar listener, the app, then the caches and keys.
  const closers: Array<() => Promise<void> | void> = [() => keys.stop(), () => view.stop(), () => app.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const url = await app.listen({ host: opts.host, port });
    const sidecars = await startSidecarListener(opts, deps, log);
    if (sidecars !== undefined) closers.push(() => sidecars.close());
    const rules = await startRedirect(opts, port, log);
    if (rules !== undefined) closers.push(() => rules.stop());
    log.info({ url, sidecarUrl: sidecars?.url, nodeName }, "NMI listening");
    return { url, ...(sidecars !== undefined ? { sidecarUrl: sidecars.url } : {}), close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `podid nmi --remove-iptables-rules`: takes podid's chains off this node (uninstalling). */
export async function removeIptablesRules(log: Logger = createLogger("nmi")): Promise<void> {
  await removeRules();
  log.info("podid's iptables chains and jumps removed from this node; pods reach the node's IMDS again");
}
