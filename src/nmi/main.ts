// Wiring for `podid nmi`: builds the caches, token sources, the app and (optionally) the
// iptables redirect from options, starts listening, and tears everything down on close.
import { readFileSync } from "node:fs";
import { DEFAULTS, LIMITS, SIDECAR, SIDECAR_PORT } from "../model/constants.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { loadAdmissionKeys, type AdmissionKeys } from "../policy/admission-mark.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { buildNmiApp } from "./app.ts";
import { computeRules, keepRulesApplied } from "./iptables.ts";
import { startKubeView, kubeSecretReader } from "./kube-view.ts";
import { UpstreamLimiter } from "./limiter.ts";
import { createNmiMetrics } from "./metrics.ts";
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
  proxyPaths: string[];
  assignmentWaitSeconds: number;
  /** DaemonSet mode: own the iptables redirect of metadataIp:80 to nodeIp:port. */
  iptablesRedirect: boolean;
  nodeIp?: string;
  podInterfaces: string[];
  metadataAddress: string;
  /** Sidecar mode. */
  nmiEndpoint?: string;
  tokenFile: string;
  logger?: Logger;
}

export interface RunningNmi {
  /** The URL the server listens on. */
  url: string;
  close(): Promise<void>;
}

const KEY_RELOAD_MS = 30_000;

function watchKeys(file: string, log: Logger): { get(): AdmissionKeys; stop(): void } {
  let keys = loadAdmissionKeys(file);
  // Re-read so a rotated key file takes effect without a restart; a bad file keeps the old keys.
  const timer = setInterval(() => {
    try {
      keys = loadAdmissionKeys(file);
    } catch (err) {
      log.error(
        { err: err instanceof Error ? err.message : String(err) },
        "admission key file unreadable; keeping the previous keys",
      );
    }
  }, KEY_RELOAD_MS);
  timer.unref();
  return { get: () => keys, stop: () => clearInterval(timer) };
}

async function runSidecar(opts: NmiOptions, log: Logger): Promise<RunningNmi> {
  const nodeEndpoint = opts.nmiEndpoint ?? process.env[SIDECAR.nodeEndpointEnv];
  if (nodeEndpoint === undefined || nodeEndpoint === "") {
    throw new Error(`--nmi-endpoint (or ${SIDECAR.nodeEndpointEnv}) is required in sidecar mode: the node NMI's URL`);
  }
  const app = buildSidecarApp({ nodeEndpoint, readToken: fileTokenReader(opts.tokenFile) });
  const url = await app.listen({ host: opts.host, port: opts.port ?? SIDECAR_PORT });
  log.info({ url, nodeEndpoint }, "NMI sidecar listening");
  return { url, close: () => app.close() };
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
  const view = await startKubeView(kc, nodeName, log);
  const limiter = new UpstreamLimiter({
    perSecond: LIMITS.imdsRequestsPerSecond,
    concurrent: LIMITS.imdsConcurrentRequests,
  });
  const imds = new ImdsClient(opts.imdsEndpoint, limiter, (kind, outcome) =>
    metrics.upstream.inc({ kind: `imds-${kind}`, outcome }),
  );
  const readSecret = kubeSecretReader(kc);
  const authority = {
    authorityHost: opts.authorityHost,
    ...(opts.authorityCaFile !== undefined ? { caPem: readFileSync(opts.authorityCaFile, "utf8") } : {}),
  };
  const counted = (source: TokenSource): TokenSource => ({
    getToken: (resource) =>
      source.getToken(resource).then(
        (t) => (metrics.upstream.inc({ kind: "entra", outcome: "ok" }), t),
        (err: unknown) => {
          metrics.upstream.inc({ kind: "entra", outcome: "error" });
          throw err;
        },
      ),
  });
  const tokens = new TokenService(
    (identity) =>
      identity.type === 0
        ? imds.source({ resourceID: identity.resourceID ?? "", clientID: identity.clientID })
        : counted(servicePrincipalSource(identity, readSecret, authority)),
    new TokenCache(),
    metrics,
  );
  const app = buildNmiApp({
    nodeName,
    view,
    admissionKeys: () => keys.get(),
    tokens,
    imds,
    reviewToken: kubeTokenReviewer(kc, DEFAULTS.sidecarTokenAudience),
    proxyPaths: opts.proxyPaths,
    assignmentWaitMs: opts.assignmentWaitSeconds * 1000,
    metrics,
    logger: log,
  });
  const port = opts.port ?? DEFAULTS.nmiPort;
  const url = await app.listen({ host: opts.host, port });
  let rules: { stop(): Promise<void> } | undefined;
  try {
    if (opts.iptablesRedirect) {
      const nodeIp = opts.nodeIp ?? opts.host;
      const plan = computeRules({
        metadataIp: opts.metadataAddress,
        metadataPort: 80,
        nodeIp,
        nmiPort: port,
        podInterfaces: opts.podInterfaces,
      });
      rules = await keepRulesApplied(plan, {
        intervalMs: 60_000,
        onError: (err) =>
          log.error({ err: err instanceof Error ? err.message : String(err) }, "iptables re-sync failed"),
      });
      log.info({ chain: plan.chain, nodeIp, port }, "metadata redirect applied");
    }
  } catch (err) {
    await app.close();
    await view.stop();
    throw err;
  }
  log.info({ url, nodeName }, "NMI listening");
  return {
    url,
    async close() {
      keys.stop();
      await rules?.stop();
      await app.close();
      await view.stop();
    },
  };
}
