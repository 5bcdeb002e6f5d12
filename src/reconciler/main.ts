// `podid reconciler`: flags and wiring only; everything else is in run.ts and controller.ts,
// loaded when the command runs (see cli.ts: a program loads only its own modules).
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import {
  DEFAULTS,
  FEDERATION,
  RECONCILER,
  SYSTEM_NAMESPACE,
  TOKEN_SOURCES,
  type TokenSourceName,
} from "../model/constants.ts";

const int =
  (flag: string, min: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} expects a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };

function url(v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== "https:")
      throw new InvalidArgumentError(`--arm-endpoint must be https (bearer tokens are never sent in clear), got ${v}`);
    return v.replace(/\/+$/, "");
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError(`--arm-endpoint expects a URL, got ${JSON.stringify(v)}`);
  }
}

function tokenSource(v: string): TokenSourceName {
  const s = TOKEN_SOURCES.find((x) => x === v);
  if (s === undefined)
    throw new InvalidArgumentError(
      `--default-token-source expects ${TOKEN_SOURCES.join(" or ")}, got ${JSON.stringify(v)}`,
    );
  return s;
}

/** The flag's issuer, if one was given (an empty one means: discover it). */
const givenIssuer = (v: string | undefined): string | undefined => (v === "" ? undefined : v);

function issuerUrl(v: string): string {
  // config/ passes the ConfigMap's `issuer`, empty by default: discover it from the API server.
  if (v === "") return "";
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`--federation-issuer expects the cluster's issuer URL, got ${JSON.stringify(v)}`);
  }
  if (u.protocol !== "https:")
    throw new InvalidArgumentError(`--federation-issuer must be an https URL (Entra accepts no other), got ${v}`);
  // Entra compares issuers as strings: kept exactly as given.
  return v;
}

function bool(flag: string) {
  return (v: string): boolean => {
    if (v === "true") return true;
    if (v === "false") return false;
    throw new InvalidArgumentError(`${flag} expects true or false, got ${JSON.stringify(v)}`);
  };
}

interface Flags {
  kubeconfig?: string;
  armEndpoint: string;
  armScope?: string;
  cloudConfig?: string;
  caFile?: string;
  leaderElect: boolean;
  namespace: string;
  batchWindowMs: number;
  removalGraceSeconds: number;
  armCacheSeconds: number;
  resyncSeconds: number;
  armPollIntervalMs: number;
  metricsPort: number;
  metricsHost: string;
  defaultTokenSource: TokenSourceName;
  federationIssuer?: string;
  manageFederatedCredentials: boolean;
}

export function reconcilerCommand(): Command {
  return new Command("reconciler")
    .description(
      "assign user-assigned identities to the VMs and scale sets of the nodes whose pods need them (AAD Pod Identity's MIC)",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
    .option("--arm-endpoint <url>", "Resource Manager endpoint", url, DEFAULTS.armEndpoint)
    .option("--arm-scope <scope>", "token scope for Resource Manager (default https://management.azure.com/.default)")
    .option(
      "--cloud-config <path>",
      "take the credential from AKS's cloud config file (e.g. /etc/kubernetes/azure.json) instead of the environment",
    )
    .option("--ca-file <path>", "extra CA certificates (PEM) to trust for Resource Manager and the authority")
    .option("--leader-elect", "elect a leader among replicas on a coordination.k8s.io Lease", false)
    .option(
      "--namespace <ns>",
      "podid's namespace (Lease and ownership records)",
      process.env.POD_NAMESPACE ?? SYSTEM_NAMESPACE,
    )
    .option(
      "--batch-window-ms <ms>",
      "quiet time after the last change before a reconcile (a burst = one write per VM or scale set)",
      int("--batch-window-ms", 0),
      RECONCILER.batchWindowMs,
    )
    .option(
      "--removal-grace-seconds <s>",
      "how long an identity stays after the last pod needing it goes",
      int("--removal-grace-seconds", 0),
      DEFAULTS.removalGraceSeconds,
    )
    .option(
      "--arm-cache-seconds <s>",
      "how long a Resource Manager read is trusted",
      int("--arm-cache-seconds", 0),
      RECONCILER.armCacheSeconds,
    )
    .option(
      "--resync-seconds <s>",
      "full reconcile at least this often, even without changes",
      int("--resync-seconds", 1),
      RECONCILER.resyncSeconds,
    )
    .option(
      "--arm-poll-interval-ms <ms>",
      "poll interval for long-running PATCHes",
      int("--arm-poll-interval-ms", 1),
      2000,
    )
    .option(
      "--metrics-port <port>",
      "port of /metrics, /healthz and /readyz",
      int("--metrics-port", 0),
      RECONCILER.metricsPort,
    )
    .option("--metrics-host <address>", "address /metrics, /healthz and /readyz listen on", "0.0.0.0")
    .option(
      "--default-token-source <source>",
      `token source of user-assigned identities without spec.tokenSource (${TOKEN_SOURCES.join(" | ")})`,
      tokenSource,
      FEDERATION.defaultTokenSource,
    )
    .option(
      "--federation-issuer <url>",
      "the cluster's service-account issuer for federated credentials (default: the API server's " +
        "/.well-known/openid-configuration issuer)",
      issuerUrl,
    )
    .option(
      "--manage-federated-credentials <bool>",
      `keep the ${FEDERATION.credentialName} federated identity credential on Federated identities (false: the admin ` +
        "creates them; podid only reads them)",
      bool("--manage-federated-credentials"),
      true,
    )
    .action(async (flags: Flags) => {
      try {
        await run(flags);
      } catch (e) {
        // Bad configuration is a clear one-line error, not a stack trace.
        process.stderr.write(`podid reconciler: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}

async function run(flags: Flags): Promise<void> {
  const [
    { loadKubeConfig },
    { createLogger },
    { createArmVmIdentityClient },
    { createArmCredential, loadCloudConfig, usesManagedIdentity },
    { runReconciler },
    { createArmIdentityReader },
    { ensureImdsException },
    { createArmFederatedCredentialClient },
    { discoverIssuer },
  ] = await Promise.all([
    import("../kube/config.ts"),
    import("../shared/log.ts"),
    import("./arm-client.ts"),
    import("./credential.ts"),
    import("./run.ts"),
    import("./identity-reader.ts"),
    import("./imds-exception.ts"),
    import("./federated-client.ts"),
    import("./issuer.ts"),
  ]);
  const log = createLogger("reconciler");
  let kc;
  try {
    kc = loadKubeConfig(flags.kubeconfig);
  } catch (e) {
    throw new Error(`cannot load the kubeconfig: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const caPem = flags.caFile !== undefined ? readFileSync(flags.caFile, "utf8") : undefined;
  const cloudConfig = flags.cloudConfig !== undefined ? loadCloudConfig(flags.cloudConfig) : undefined;
  if (usesManagedIdentity(cloudConfig)) await ensureImdsException(kc, flags.namespace, log);
  const credential = createArmCredential({
    ...(cloudConfig !== undefined ? { cloudConfig } : {}),
    ...(caPem !== undefined ? { caPem } : {}),
  });
  const armOptions = {
    credential,
    // Azure Stack's cloud config names its own Resource Manager; an explicit flag still wins.
    endpoint:
      flags.armEndpoint === DEFAULTS.armEndpoint
        ? (cloudConfig?.resourceManagerEndpoint?.replace(/\/+$/, "") ?? flags.armEndpoint)
        : flags.armEndpoint,
    ...(flags.armScope !== undefined ? { scope: flags.armScope } : {}),
    ...(caPem !== undefined ? { caPem } : {}),
  };
  const arm = createArmVmIdentityClient({ ...armOptions, pollIntervalMs: flags.armPollIntervalMs });
  let issuer = givenIssuer(flags.federationIssuer);
  let federationUnavailable: string | undefined;
  if (issuer === undefined) {
    try {
      issuer = await discoverIssuer(kc);
    } catch (e) {
      // Without federation by default, a cluster without discovery still runs: Federated identities say why they fail.
      if (flags.defaultTokenSource === "Federated") throw e;
      federationUnavailable = e instanceof Error ? e.message : String(e);
      log.warn({ reason: federationUnavailable }, "federation not configured: Federated identities will be Failed");
    }
  }
  const running = await runReconciler(
    kc,
    arm,
    {
      namespace: flags.namespace,
      leaderElect: flags.leaderElect,
      batchWindowMs: flags.batchWindowMs,
      graceMs: flags.removalGraceSeconds * 1000,
      armCacheMs: flags.armCacheSeconds * 1000,
      resyncMs: flags.resyncSeconds * 1000,
      invalidRetryMs: RECONCILER.invalidIdentityRetrySeconds * 1000,
      metricsPort: flags.metricsPort,
      metricsHost: flags.metricsHost,
      defaultTokenSource: flags.defaultTokenSource,
      ...(issuer !== undefined ? { federation: { issuer, manage: flags.manageFederatedCredentials } } : {}),
      ...(federationUnavailable !== undefined ? { federationUnavailable } : {}),
    },
    log,
    { identities: createArmIdentityReader(armOptions), credentials: createArmFederatedCredentialClient(armOptions) },
  );
  log.info(
    {
      metricsPort: running.metricsPort,
      leaderElect: flags.leaderElect,
      defaultTokenSource: flags.defaultTokenSource,
      federationIssuer: issuer,
      manageFederatedCredentials: flags.manageFederatedCredentials,
    },
    "reconciler started",
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await running.stop();
}
