// The playground's Azure: Resource Manager and Entra ID stand-ins over HTTPS, one IMDS per node
// over plain HTTP, and optionally Azurite, all on 127.0.0.1 with ephemeral ports.
// `startAzure` is the composable entry point; the playground's main wires it to the rest.
import type { FastifyInstance } from "fastify";
import type { CertificateAuthority } from "../../shared/pki.ts";
import { buildArmApp } from "./arm-app.ts";
import { ArmState, type FederatedCredentialRecord } from "./arm-state.ts";
import { startAzurite, type AzuriteHandle } from "./azurite.ts";
import { CallLog } from "./calls.ts";
import { idKey } from "./ids.ts";
import { validateCloud, type PlaygroundCloud } from "./cloud.ts";
import { buildEntraApp } from "./entra-app.ts";
import { Faults } from "./faults.ts";
import { IssuerKeys } from "./federated-assertion.ts";
import { buildImdsApp, nodeIdentities } from "./imds-app.ts";
import type { AssignedIdentities } from "./identity-change.ts";
import { STAND_IN_DEFAULTS } from "./names.ts";
import { ServicePrincipals } from "./service-principals.ts";
import { createSigningKey, mintAccessToken, type MintedToken, type TokenSubject } from "./tokens.ts";

export { defaultCloud, nodesOf, type PlaygroundCloud, type PlaygroundNode } from "./cloud.ts";
export { identityId, idKey, scaleSetId, scaleSetVmId, vmId } from "./ids.ts";
export type { FederatedCredentialRecord } from "./arm-state.ts";
export type { RecordedCall, CallFilter } from "./calls.ts";
export type { FaultSwitches, InjectedArmFault } from "./faults.ts";
export type { ServicePrincipal, RegisterOptions } from "./service-principals.ts";

export interface StartAzureOptions {
  cloud: PlaygroundCloud;
  ca: CertificateAuthority;
  /** How long a PUT/PATCH runs before it completes (default 300 ms; 0 completes at once, no polling). */
  lroDurationMs?: number;
  /** Start Azurite too (a child process; about a second). */
  azurite?: boolean;
  /** Compute's write bucket per scale set or VM (default burst 12, 4 a minute). */
  throttle?: { burst: number; refillPerMinute: number };
  /** Delay added to each IMDS token request (default 0). */
  imdsLatencyMs?: number;
  /** Clock for tokens, operations and buckets (default Date.now). */
  now?: () => number;
  /** More CAs (PEM) Entra trusts when it fetches an issuer's keys (the playground CA always is), e.g. a real API server's. */
  issuerCaPems?: string[];
}

export interface AzurePlayground {
  /** https://127.0.0.1:P: Resource Manager (`ComputeManagementClient`'s `endpoint`). */
  armUrl: string;
  /** https://127.0.0.1:P: Entra ID (`authorityHost`); the tenant is the first path segment. */
  authorityHost: string;
  tenantId: string;
  subscriptionId: string;
  /** http://127.0.0.1:P: the node's IMDS (what 169.254.169.254 is on a real node). */
  imdsUrl(nodeName: string): string;
  azurite?: { blobUrl: string; accountName: string; accountKey: string };
  /** The PEM the HTTPS endpoints chain to (the playground CA). */
  caPem: string;
  faults: Faults;
  calls: CallLogView;
  servicePrincipals: ServicePrincipals;
  /** What ARM shows for a VM or scale set, and what its machines have right now (IMDS's view). */
  identitiesOf(resourceId: string): { model: AssignedIdentities; effective: AssignedIdentities } | undefined;
  /** The federated identity credentials Resource Manager holds for a user-assigned identity (by resource ID). */
  federatedCredentials(identityResourceId: string): FederatedCredentialRecord[];
  /** The identities a node's IMDS would hand out now. */
  nodeIdentities(nodeName: string): { clientId: string; principalId: string }[];
  /** Mints a token as Entra would, e.g. for a test's credential (`audience` e.g. https://management.azure.com/). */
  mintToken(audience: string, subject: TokenSubject, lifetimeSeconds?: number, nowSeconds?: number): MintedToken;
  /** Changes the LRO duration from now on (e.g. 0 for a benchmark). */
  setLroDuration(ms: number): void;
  /** Refills every throttling bucket. */
  resetThrottling(): void;
  /**
   * Federated identity credentials by identity (`idKey` of its resource ID), then lower-cased
   * name: what Resource Manager holds and Entra matches federated assertions against.
   */
  federatedCredentialStore: Map<string, Map<string, FederatedCredentialRecord>>;
  /** Trusts one more CA when Entra fetches an issuer's discovery document and JWKS (loopback only). */
  trustIssuerCa(caPem: string): void;
  /** URLs Entra fetched for issuer keys so far (a refused issuer never appears). */
  issuerFetches(): readonly string[];
  stop(): Promise<void>;
}

export type CallLogView = Pick<CallLog, "list" | "count" | "armWrites" | "computeWrites" | "reset">;

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: "127.0.0.1", port: 0 });
  const addr = app.server.address();
  if (typeof addr !== "object" || addr === null) throw new Error("server has no address");
  return addr.port;
}

export async function startAzure(opts: StartAzureOptions): Promise<AzurePlayground> {
  const problems = validateCloud(opts.cloud);
  if (problems.length > 0) throw new Error(`startAzure: invalid cloud:\n  ${problems.join("\n  ")}`);
  if (opts.lroDurationMs !== undefined && !(opts.lroDurationMs >= 0))
    throw new Error("startAzure: lroDurationMs must be a number >= 0");
  const now = opts.now ?? Date.now;
  const key = createSigningKey();
  const calls = new CallLog();
  const faults = new Faults();
  const state = new ArmState(opts.cloud, {
    now,
    lroDurationMs: opts.lroDurationMs ?? STAND_IN_DEFAULTS.lroDurationMs,
    throttle: opts.throttle ?? {
      burst: STAND_IN_DEFAULTS.throttleBurst,
      refillPerMinute: STAND_IN_DEFAULTS.throttleRefillPerMinute,
    },
  });
  const principals = new ServicePrincipals();
  for (const sp of opts.cloud.servicePrincipals) {
    principals.register({
      name: sp.name,
      clientId: sp.clientId,
      objectId: sp.objectId,
      ...(sp.secret ? { secret: sp.secret } : {}),
    });
  }
  const serving = opts.ca.issue({
    commonName: "podid playground azure",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
  });
  const https = { key: serving.keyPem, cert: serving.certPem };
  const apps: FastifyInstance[] = [];
  const imdsPorts = new Map<string, number>();
  let azurite: AzuriteHandle | undefined;
  // The playground CA first: the playground API server's certificate chains to it when it shares the CA.
  const issuerKeys = new IssuerKeys([opts.ca.certPem, ...(opts.issuerCaPems ?? [])], now);
  const stop = async (): Promise<void> => {
    await Promise.allSettled([...apps.map((a) => a.close()), azurite?.stop(), issuerKeys.close()]);
  };
  try {
    const arm = buildArmApp({ state, calls, faults, publicKey: key.publicKey, https });
    apps.push(arm);
    const armPort = await listen(arm);
    const entra = buildEntraApp({
      tenantId: opts.cloud.tenantId,
      principals,
      key,
      calls,
      now,
      https,
      arm: state,
      issuerKeys,
    });
    apps.push(entra);
    const entraPort = await listen(entra);
    for (const node of state.nodes.values()) {
      const imds = buildImdsApp({
        state,
        node,
        calls,
        faults,
        key,
        ...(opts.imdsLatencyMs ? { latencyMs: opts.imdsLatencyMs } : {}),
      });
      apps.push(imds);
      imdsPorts.set(node.nodeName, await listen(imds));
    }
    if (opts.azurite) azurite = await startAzurite(opts.ca);
    return {
      armUrl: `https://127.0.0.1:${armPort}`,
      authorityHost: `https://127.0.0.1:${entraPort}`,
      tenantId: opts.cloud.tenantId,
      subscriptionId: opts.cloud.subscriptionId,
      imdsUrl: (nodeName) => {
        const port = imdsPorts.get(nodeName.toLowerCase());
        if (port === undefined)
          throw new Error(
            `imdsUrl: no node named ${JSON.stringify(nodeName)}; nodes: ${[...imdsPorts.keys()].join(", ")}`,
          );
        return `http://127.0.0.1:${port}`;
      },
      ...(azurite
        ? { azurite: { blobUrl: azurite.blobUrl, accountName: azurite.accountName, accountKey: azurite.accountKey } }
        : {}),
      caPem: opts.ca.certPem,
      faults,
      calls,
      servicePrincipals: principals,
      identitiesOf: (id) => {
        const r = state.get(id);
        return r ? { model: r.identities, effective: r.effective } : undefined;
      },
      federatedCredentials: (id) => [...(state.federatedCredentials.get(idKey(id))?.values() ?? [])],
      nodeIdentities: (nodeName) => {
        const node = state.nodes.get(nodeName.toLowerCase());
        if (!node) throw new Error(`nodeIdentities: no node named ${JSON.stringify(nodeName)}`);
        const ids = nodeIdentities(state, node);
        return [...(ids.system ? [ids.system] : []), ...ids.user].map((i) => ({
          clientId: i.clientId,
          principalId: i.principalId,
        }));
      },
      mintToken: (audience, subject, lifetimeSeconds = 3600, nowSeconds = Math.floor(now() / 1000)) =>
        mintAccessToken({ key, tenantId: opts.cloud.tenantId, audience, subject, nowSeconds, lifetimeSeconds }),
      setLroDuration: (ms) => {
        state.lroDurationMs = ms;
      },
      resetThrottling: () => state.resetThrottling(),
      federatedCredentialStore: state.federatedCredentials,
      trustIssuerCa: (pem) => issuerKeys.trust(pem),
      issuerFetches: () => issuerKeys.fetched,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
