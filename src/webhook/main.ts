// `podid webhook`: wires caches, keys, TLS and the app, then listens. Decisions live elsewhere.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server as TlsServer } from "node:tls";
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import { loadKubeConfig } from "../kube/config.ts";
import { NMI_TLS, WEBHOOK } from "../model/constants.ts";
import { loadAdmissionKeys, type AdmissionKeys } from "../policy/admission-mark.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { registerCommonMetrics } from "../shared/metrics.ts";
import { buildWebhookApp } from "./app.ts";
import { startCacheState, type CacheState } from "./cache-state.ts";
import { readTls, watchFiles } from "./files.ts";
import { createMetrics } from "./metrics.ts";
import type { NmiTls } from "./mutate.ts";
import { SELF_SIGNED_DEFAULTS, bootstrapNmiTls, bootstrapSelfSigned } from "./self-signed.ts";
import type { WebhookState } from "./state.ts";

export interface WebhookOptions {
  kubeconfig?: string;
  host: string;
  port: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  admissionKeyFile: string;
  selfSigned: boolean;
  namespace: string;
  serviceName: string;
  sidecarImage: string;
  /** PEM file of the node NMI's CA (cert-manager's ca.crt), given to injected sidecars; reloaded. */
  nmiCaFile?: string;
  fileCheckIntervalMs?: number;
  logger?: Logger;
  /** Tests and the benchmark: a state instead of informers (no kubeconfig needed). */
  state?: WebhookState;
}

export interface RunningWebhook {
  app: FastifyInstance;
  port: number;
  close(): Promise<void>;
}

async function tlsFiles(o: WebhookOptions, log: Logger): Promise<{ certFile: string; keyFile: string }> {
  if (o.selfSigned) {
    const kc = loadKubeConfig(o.kubeconfig);
    const dir =
      o.tlsCertFile !== undefined ? join(o.tlsCertFile, "..") : mkdtempSync(join(tmpdir(), "podid-webhook-tls-"));
    const r = await bootstrapSelfSigned(kc, {
      ...SELF_SIGNED_DEFAULTS,
      namespace: o.namespace,
      service: o.serviceName,
      dir,
    });
    log.info({ certFile: r.certFile }, "self-signed serving certificate ready; caBundle patched");
    return r;
  }
  if (o.tlsCertFile === undefined || o.tlsKeyFile === undefined)
    throw new Error(
      "--tls-cert-file and --tls-key-file are required (or --self-signed): the apiserver calls webhooks over HTTPS only",
    );
  return { certFile: o.tlsCertFile, keyFile: o.tlsKeyFile };
}

/** The node NMI's CA for sidecars: from --nmi-ca-file (watched), or made with --self-signed. */
async function nmiTlsSource(
  o: WebhookOptions,
  interval: number,
  log: Logger,
): Promise<{ get(): NmiTls | undefined; stop(): void }> {
  const serverName = NMI_TLS.serverName(o.namespace);
  if (o.nmiCaFile !== undefined) {
    const file = o.nmiCaFile;
    // cert-manager may not have issued it yet: start without it, pick it up when it appears.
    const read = (): NmiTls | undefined => {
      try {
        return { caPem: readFileSync(file, "utf8"), serverName };
      } catch (err) {
        log.warn({ err, file }, "node NMI CA not readable (yet); sidecars injected now will not start");
        return undefined;
      }
    };
    let tls = read();
    const stop = watchFiles([file], interval, () => {
      tls = read() ?? tls;
      if (tls !== undefined) log.info("node NMI CA loaded");
    });
    return { get: () => tls, stop };
  }
  if (o.selfSigned && o.state === undefined) {
    const tls = { caPem: await bootstrapNmiTls(loadKubeConfig(o.kubeconfig), o.namespace), serverName };
    return { get: () => tls, stop: () => undefined };
  }
  log.warn("no --nmi-ca-file: pods in sidecar mode get a sidecar that cannot check the node NMI, and will not start");
  return { get: () => undefined, stop: () => undefined };
}

export async function runWebhook(o: WebhookOptions): Promise<RunningWebhook> {
  const log = o.logger ?? createLogger("webhook");
  const interval = o.fileCheckIntervalMs ?? WEBHOOK.fileCheckIntervalMs;
  let keys: AdmissionKeys = loadAdmissionKeys(o.admissionKeyFile);
  const { certFile, keyFile } = await tlsFiles(o, log);
  const tls = readTls(certFile, keyFile);
  const nmiTls = await nmiTlsSource(o, interval, log);

  let cache: CacheState | undefined;
  const state: WebhookState =
    o.state ??
    (cache = await startCacheState(loadKubeConfig(o.kubeconfig), (err) =>
      log.warn({ err }, "watch failed; restarting"),
    ));

  const registry = new Registry();
  registerCommonMetrics(registry);
  const app = buildWebhookApp({
    state,
    keys: () => keys,
    logger: log,
    sidecarImage: o.sidecarImage,
    nmiTls: () => nmiTls.get(),
    metrics: createMetrics(registry),
    https: tls,
  });

  const stopKeys = watchFiles([o.admissionKeyFile], interval, () => {
    try {
      keys = loadAdmissionKeys(o.admissionKeyFile);
      log.info("admission keys reloaded");
    } catch (err) {
      log.error({ err }, "admission key file unreadable; keeping the previous keys");
    }
  });
  const stopTls = watchFiles([certFile, keyFile], interval, () => {
    try {
      (app.server as unknown as TlsServer).setSecureContext(readTls(certFile, keyFile));
      log.info("serving certificate reloaded");
    } catch (err) {
      log.error({ err }, "serving certificate unreadable; keeping the previous one");
    }
  });

  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : o.port;
  log.info({ host: o.host, port }, "podid webhook listening");
  return {
    app,
    port,
    async close() {
      stopKeys();
      stopTls();
      nmiTls.stop();
      await app.close();
      await cache?.stop();
    },
  };
}
