// The whole playground: the Kubernetes API (the emulator, or with `kube: "real"` a real
// kube-apiserver and controller-manager) and the Azure stand-ins, podid installed from
// config/default, and podid's three programs running as processes against them, exactly as
// they would run in a cluster, differing only in flags and environment. On the real API server
// the programs run as config/'s ServiceAccounts, under config/'s RBAC.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { DEFAULTS, FEDERATION, NMI_TLS, SERVICE_ACCOUNTS, SYSTEM_NAMESPACE, WEBHOOK } from "../model/constants.ts";
import { isAlreadyExists, kubeRequest } from "../kube/request.ts";
import type { Logger } from "../shared/log.ts";
import { createCertificateAuthority } from "../shared/pki.ts";
import { defaultCloud, nodesOf, startAzure, type AzurePlayground, type PlaygroundCloud } from "./azure/index.ts";
import { freePort } from "./free-port.ts";
import { applyObjects, planInstall, renderKustomization, servedOnly, type InstallPlan } from "./install.ts";
import { pointWebhooksAt } from "./control-plane/webhooks.ts";
import { startPlayground, type Playground } from "./main.ts";
import { spawnPodid, waitReady, type ProgramHandle } from "./processes.ts";
import { keepProjectedToken } from "./projected-token.ts";
import { startPrometheus, type RunningPrometheus } from "./prometheus.ts";
import { controlPlaneDir, startRealKube, type RealKube } from "./real-kube.ts";

/** The playground's Kubernetes side: the loopback emulator, or the real binaries (KUBEBUILDER_ASSETS). */
export const KUBE_MODES = ["emulator", "real"] as const;
export type KubeMode = (typeof KUBE_MODES)[number];

export interface StackOptions {
  stateDir: string;
  logger: Logger;
  /** Resource Manager's long-running operation time (default 300 ms; real scale sets take 40-60 s). */
  lroDurationMs?: number;
  /** Progress lines for a person (default: nothing). */
  say?: (line: string) => void;
  /** Also run a real Prometheus scraping every program, with podid's rules (Debian's prometheus package). */
  prometheus?: boolean;
  /** The Kubernetes side (default the emulator). */
  kube?: KubeMode;
}

export interface Stack {
  pg: Playground;
  azure: AzurePlayground;
  cloud: PlaygroundCloud;
  kc: KubeConfig;
  files: Playground["files"] & { admissionKey: string; logs: string };
  install: InstallPlan;
  programs: ProgramHandle[];
  /** With `prometheus: true`: the Prometheus scraping the programs (http://127.0.0.1:<port>). */
  prometheus?: RunningPrometheus;
  /** The NMI of a node, as pods reach it. */
  nmiUrl(node: string): string;
  stop(): Promise<void>;
}

function writeSecretFiles(dir: string, ca: ReturnType<typeof createCertificateAuthority>) {
  mkdirSync(join(dir, "webhook"), { recursive: true });
  const svc = `${WEBHOOK.serviceName}.${SYSTEM_NAMESPACE}.svc`;
  const serving = ca.issue({
    commonName: svc,
    dnsNames: [svc, `${svc}.cluster.local`, "localhost"],
    ipAddresses: ["127.0.0.1"],
  });
  // The node NMIs' sidecar port, as cert-manager would issue it (the playground CA plays its CA).
  mkdirSync(join(dir, "nmi"), { recursive: true });
  const nmiName = NMI_TLS.serverName(SYSTEM_NAMESPACE);
  const nmiServing = ca.issue({ commonName: nmiName, dnsNames: [nmiName], ipAddresses: [] });
  const files = {
    tlsCert: join(dir, "webhook", "tls.crt"),
    tlsKey: join(dir, "webhook", "tls.key"),
    nmiCert: join(dir, "nmi", "tls.crt"),
    nmiKey: join(dir, "nmi", "tls.key"),
    nmiCa: join(dir, "nmi", "ca.crt"),
    admissionKey: join(dir, "admission.key"),
  };
  writeFileSync(files.tlsCert, serving.certPem);
  writeFileSync(files.tlsKey, serving.keyPem, { mode: 0o600 });
  writeFileSync(files.nmiCert, nmiServing.certPem);
  writeFileSync(files.nmiKey, nmiServing.keyPem, { mode: 0o600 });
  writeFileSync(files.nmiCa, ca.certPem);
  const key = randomBytes(32).toString("base64url");
  writeFileSync(files.admissionKey, key + "\n", { mode: 0o600 });
  return { ...files, key };
}

async function createAdmissionKeySecret(kc: KubeConfig, key: string): Promise<void> {
  try {
    await kubeRequest(kc, {
      method: "POST",
      path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/secrets`,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: WEBHOOK.admissionKeySecretName },
        stringData: { keys: key + "\n" },
      },
    });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

/** The Kubernetes side and the playground files around it. */
async function startKube(
  opts: StackOptions,
  ca: ReturnType<typeof createCertificateAuthority>,
  cloud: PlaygroundCloud,
  webhookPort: number,
): Promise<{ pg: Playground; real?: RealKube }> {
  if (opts.kube !== "real") {
    const pg = await startPlayground({
      stateDir: opts.stateDir,
      logger: opts.logger,
      kube: {
        ca,
        nodes: nodesOf(cloud),
        // The apiserver reaches the webhook Service; here the Service is the webhook process.
        webhookServiceResolver: (ns, name) =>
          ns === SYSTEM_NAMESPACE && name === WEBHOOK.serviceName
            ? { host: "127.0.0.1", port: webhookPort }
            : undefined,
      },
    });
    return { pg };
  }
  const real = await startRealKube({ dir: controlPlaneDir(opts.stateDir), nodes: nodesOf(cloud), logger: opts.logger });
  try {
    return {
      pg: await startPlayground({ stateDir: opts.stateDir, logger: opts.logger, kubeSide: real, caPem: ca.certPem }),
      real,
    };
  } catch (e) {
    await real.stop();
    throw e;
  }
}

/**
 * Entra must read the cluster's issuer keys without credentials, as it does on AKS. The
 * emulator serves discovery to anyone; a real API server only once the discovery role is bound
 * to unauthenticated callers (README, Federation).
 */
async function openIssuerDiscovery(kc: KubeConfig): Promise<void> {
  try {
    await kubeRequest(kc, {
      method: "POST",
      path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "podid-playground-issuer-discovery" },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "system:service-account-issuer-discovery",
        },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:unauthenticated" }],
      },
    });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

/** Each program's kubeconfig: on the real API server its ServiceAccount's, else the admin's. */
async function programKubeconfigs(
  real: RealKube | undefined,
  admin: string,
): Promise<Record<keyof typeof SERVICE_ACCOUNTS, string>> {
  if (real === undefined) return { webhook: admin, reconciler: admin, nmi: admin };
  const of = async (sa: string): Promise<string> =>
    (await real.controlPlane.serviceAccountKubeconfig(SYSTEM_NAMESPACE, sa, 24 * 3600)).path;
  return {
    webhook: await of(SERVICE_ACCOUNTS.webhook),
    reconciler: await of(SERVICE_ACCOUNTS.reconciler),
    nmi: await of(SERVICE_ACCOUNTS.nmi),
  };
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const say = opts.say ?? (() => undefined);
  const ca = createCertificateAuthority("podid playground CA");
  const cloud = defaultCloud();
  const webhookPort = await freePort();
  const { pg, real } = await startKube(opts, ca, cloud, webhookPort);
  const cleanups: Array<() => Promise<void>> = [() => pg.stop()];
  const stopAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    say(`Kubernetes API   ${pg.kube.url}${real !== undefined ? " (real kube-apiserver and controller-manager)" : ""}`);
    const azure = await startAzure({ cloud, ca, azurite: true, lroDurationMs: opts.lroDurationMs });
    cleanups.push(() => azure.stop());
    pg.addEndpoint("arm", azure.armUrl);
    pg.addEndpoint("entra", azure.authorityHost);
    if (azure.azurite) pg.addEndpoint("azurite", azure.azurite.blobUrl);
    for (const n of nodesOf(cloud)) pg.addEndpoint(`imds/${n.name}`, azure.imdsUrl(n.name));
    say(
      `Azure stand-ins  ARM ${azure.armUrl}, Entra ID ${azure.authorityHost}, Azurite ${azure.azurite?.blobUrl ?? "-"}`,
    );

    const kc = new KubeConfig();
    kc.loadFromFile(pg.files.kubeconfig);
    const secrets = writeSecretFiles(opts.stateDir, ca);
    const install = await servedOnly(kc, planInstall(await renderKustomization(), ca.certPem));
    await applyObjects(kc, install.apply, install.plurals);
    // A real API server cannot reach a Service on loopback: its webhooks call the process by URL.
    if (real !== undefined)
      await pointWebhooksAt(
        kc,
        { mutating: WEBHOOK.mutatingConfigName, validating: WEBHOOK.validatingConfigName },
        `https://127.0.0.1:${webhookPort}`,
        ca.certPem,
      );
    await createAdmissionKeySecret(kc, secrets.key);
    const kubeconfigs = await programKubeconfigs(real, pg.files.kubeconfig);
    say(
      `Installed        ${install.apply.length} objects from config/default (${install.skipped.length} run as processes or played by the playground)`,
    );

    const logs = join(opts.stateDir, "logs");
    const programs: ProgramHandle[] = [];
    cleanups.push(async () => {
      await Promise.all(programs.map((p) => p.stop()));
    });
    const keyFlag = ["--admission-key-file", secrets.admissionKey];
    const webhook = spawnPodid({
      name: "webhook",
      logDir: logs,
      args: [
        "webhook",
        "--kubeconfig",
        kubeconfigs.webhook,
        ...keyFlag,
        "--host",
        "127.0.0.1",
        "--port",
        String(webhookPort),
        "--tls-cert-file",
        secrets.tlsCert,
        "--tls-key-file",
        secrets.tlsKey,
        "--nmi-ca-file",
        secrets.nmiCa,
      ],
    });
    programs.push(webhook);
    pg.addEndpoint("webhook", `https://127.0.0.1:${webhookPort}`);

    const sp = cloud.servicePrincipals[0];
    if (sp?.secret === undefined)
      throw new Error("the playground cloud needs a service principal with a secret for the reconciler");
    const metricsPort = await freePort();
    const reconciler = spawnPodid({
      name: "reconciler",
      logDir: logs,
      args: [
        "reconciler",
        "--kubeconfig",
        kubeconfigs.reconciler,
        "--arm-endpoint",
        azure.armUrl,
        "--ca-file",
        pg.files.ca,
        "--leader-elect",
        "--batch-window-ms",
        "200",
        "--removal-grace-seconds",
        "10",
        "--arm-poll-interval-ms",
        "100",
        "--metrics-port",
        String(metricsPort),
        "--metrics-host",
        "127.0.0.1",
      ],
      // The same variables DefaultAzureCredential reads in a real cluster.
      env: {
        AZURE_TENANT_ID: cloud.tenantId,
        AZURE_CLIENT_ID: sp.clientId,
        AZURE_CLIENT_SECRET: sp.secret,
        AZURE_AUTHORITY_HOST: azure.authorityHost,
      },
    });
    programs.push(reconciler);
    pg.addEndpoint("reconciler-metrics", `http://127.0.0.1:${metricsPort}/metrics`);

    // The NMIs' projected token for Entra (config/nmi's federation-token volume), as the kubelet keeps it.
    if (real !== undefined) {
      await openIssuerDiscovery(kc);
      azure.trustIssuerCa(real.controlPlane.caPem);
    }
    const federationToken = await keepProjectedToken(kc, {
      namespace: SYSTEM_NAMESPACE,
      serviceAccount: SERVICE_ACCOUNTS.nmi,
      audience: FEDERATION.audience,
      expirationSeconds: FEDERATION.tokenExpirationSeconds,
      file: join(opts.stateDir, "nmi", "federation-token"),
      onError: (err) => opts.logger.warn({ err: String(err) }, "could not renew the NMIs' federation token"),
    });
    cleanups.push(() => Promise.resolve(federationToken.stop()));

    const nmiUrls = new Map<string, string>();
    for (const [node, ip] of pg.kube.nodeIps) {
      const nmi = spawnPodid({
        name: `nmi-${node}`,
        logDir: logs,
        args: [
          "nmi",
          "--kubeconfig",
          kubeconfigs.nmi,
          ...keyFlag,
          "--node-name",
          node,
          "--host",
          ip,
          "--port",
          String(DEFAULTS.nmiPort),
          "--imds-endpoint",
          azure.imdsUrl(node),
          "--authority-host",
          azure.authorityHost,
          "--authority-ca-file",
          pg.files.ca,
          "--tls-cert-file",
          secrets.nmiCert,
          "--tls-key-file",
          secrets.nmiKey,
          "--tenant-id",
          cloud.tenantId,
          "--federation-token-file",
          join(opts.stateDir, "nmi", "federation-token"),
        ],
      });
      programs.push(nmi);
      nmiUrls.set(node, `http://${ip}:${DEFAULTS.nmiPort}`);
      pg.addEndpoint(`nmi/${node}`, `http://${ip}:${DEFAULTS.nmiPort}`);
    }

    await waitReady(webhook, `https://127.0.0.1:${webhookPort}/readyz`, ca.certPem);
    await waitReady(reconciler, `http://127.0.0.1:${metricsPort}/readyz`);
    for (const p of programs.filter((x) => x.name.startsWith("nmi-")))
      await waitReady(p, `${nmiUrls.get(p.name.slice(4))}/readyz`);
    say(`podid running    webhook, reconciler, ${nmiUrls.size} NMIs (logs in ${logs})`);

    let prometheus: RunningPrometheus | undefined;
    if (opts.prometheus === true) {
      prometheus = await startPrometheus({
        logDir: logs,
        jobs: [
          { job: "podid-webhook", targets: [`127.0.0.1:${webhookPort}`], scheme: "https", caPem: ca.certPem },
          { job: "podid-reconciler", targets: [`127.0.0.1:${metricsPort}`] },
          { job: "podid-nmi", targets: [...nmiUrls.values()].map((u) => new URL(u).host) },
        ],
      });
      const p = prometheus;
      cleanups.push(() => p.stop());
      pg.addEndpoint("prometheus", prometheus.url);
      say(`Prometheus       ${prometheus.url} (podid's rules loaded; storage in a temporary folder)`);
    }

    return {
      pg,
      azure,
      cloud,
      kc,
      files: { ...pg.files, admissionKey: secrets.admissionKey, logs },
      install,
      programs,
      ...(prometheus !== undefined ? { prometheus } : {}),
      nmiUrl: (node) => {
        const u = nmiUrls.get(node);
        if (u === undefined) throw new Error(`no NMI for node ${node}`);
        return u;
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
