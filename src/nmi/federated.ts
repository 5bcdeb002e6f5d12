// The federated token source (workload identity federation): the NMI exchanges its own projected
// service-account token (audience api://AzureADTokenExchange) at Entra ID for the identity's
// token, through @azure/identity's ClientAssertionCredential. The token file is re-read when the
// kubelet rotates it. Entra's refusals become IMDS-shaped errors naming the AADSTS code and what
// to change; nothing here logs or returns the assertion.
import { readFile, stat } from "node:fs/promises";
import { ClientAssertionCredential, type TokenCredential } from "@azure/identity";
import { FEDERATION } from "../model/constants.ts";
import type { AzureIdentity } from "../model/types.ts";
import { imdsError, type ImdsError } from "./imds.ts";
import { fromAccessToken, scopeFor, UpstreamError, type AuthorityOptions, type TokenSource } from "./token-sources.ts";

export const DEFAULT_FEDERATION_TOKEN_FILE = `${FEDERATION.tokenMountPath}/${FEDERATION.tokenFileName}`;

export interface FederationOptions {
  /** The Entra tenant of the federated identities (`--tenant-id`); needed only once one is served. */
  tenantId?: string;
  /** The NMI's projected token (`--federation-token-file`). */
  tokenFile: string;
  authority: AuthorityOptions;
  /** Told of every failed exchange (for an Event on the AzureIdentity); the message holds no token. */
  onFailure?: (identity: AzureIdentity, code: string | undefined, error: ImdsError) => void;
  /** For tests: the credential to use instead of ClientAssertionCredential. */
  credential?: (tenantId: string, clientId: string, getAssertion: () => Promise<string>) => TokenCredential;
}

/** Reads the projected token, again only when its mtime or size changed (the kubelet swaps the file). */
export function assertionReader(path: string): () => Promise<string> {
  let cached: { mtimeMs: number; size: number; token: string } | undefined;
  return async () => {
    const s = await stat(path);
    if (cached === undefined || cached.mtimeMs !== s.mtimeMs || cached.size !== s.size)
      cached = { mtimeMs: s.mtimeMs, size: s.size, token: (await readFile(path, "utf8")).trim() };
    return cached.token;
  };
}

/** The claims Entra matches on, for messages: issuer, subject, audience. Never the token. */
export function assertionClaims(token: string): { iss: string; sub: string; aud: string } {
  try {
    const c = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
      string,
      unknown
    >;
    const str = (v: unknown): string => (typeof v === "string" ? v : "");
    const aud = Array.isArray(c.aud) ? c.aud.map(str).join(",") : str(c.aud);
    return { iss: str(c.iss), sub: str(c.sub), aud };
  } catch {
    return { iss: "", sub: "", aud: "" };
  }
}

export interface RefusalContext {
  where: string;
  clientId: string;
  tenantId: string;
  tokenFile: string;
  claims: { iss: string; sub: string; aud: string };
}

const VOLUME_HINT =
  `a projected serviceAccountToken volume (audience ${FEDERATION.audience}, expirationSeconds ` +
  `${FEDERATION.tokenExpirationSeconds}) mounted at ${FEDERATION.tokenMountPath} in the NMI's pod`;

/** What a person should change, per AADSTS code Entra answered with. */
function advice(code: string | undefined, c: RefusalContext): string | undefined {
  const id = `identity ${c.clientId}`;
  switch (code) {
    case "70021":
      return (
        `no federated identity credential of ${id} matches the NMI's token (issuer '${c.claims.iss}', subject ` +
        `'${c.claims.sub}', audience '${c.claims.aud}'); podid's reconciler creates '${FEDERATION.credentialName}' ` +
        `when the identity is first bound (or the admin does, when credentials are managed by hand); see podid doctor`
      );
    case "700211":
      return (
        `no federated identity credential of ${id} has issuer '${c.claims.iss}' (the cluster's service-account ` +
        `issuer, matched exactly, trailing slash included)`
      );
    case "700213":
      return (
        `no federated identity credential of ${id} has subject '${c.claims.sub}' (the subject of the NMI's token, ` +
        `matched case-sensitively); the NMI must run as its own service account, and the credential ` +
        `'${FEDERATION.credentialName}' must name it: ${FEDERATION.subject("<podid namespace>")}`
      );
    case "700212":
      return (
        `no federated identity credential of ${id} has audience '${c.claims.aud}'; the credential and the NMI's ` +
        `token volume must both use ${FEDERATION.audience}`
      );
    case "700024":
      return (
        `the NMI's token in ${c.tokenFile} is expired or not yet valid; the kubelet rotates it only if it is ` +
        `${VOLUME_HINT}; check also the node's clock`
      );
    case "700027":
      return (
        `Entra could not verify the NMI's token against the keys issuer '${c.claims.iss}' publishes (signing key ` +
        `rotated, or a token from another cluster)`
      );
    case "50166":
    case "90061":
      return (
        `Entra could not fetch issuer '${c.claims.iss}'s discovery document or keys ` +
        `(${c.claims.iss}/.well-known/openid-configuration and its jwks_uri must be reachable without ` +
        `credentials: on a self-managed cluster bind ClusterRole system:service-account-issuer-discovery to ` +
        `group system:unauthenticated)`
      );
    case "700016":
      return `${id} is not in tenant ${c.tenantId}; check the NMI's --tenant-id`;
    case "90002":
      return `tenant ${c.tenantId} does not exist; check the NMI's --tenant-id`;
    default:
      return undefined;
  }
}

/** Entra's refusal (or failure to answer) as the NMI passes it to the app. */
export function federationError(err: unknown, c: RefusalContext): { code: string | undefined; error: ImdsError } {
  const message = err instanceof Error ? err.message : String(err);
  const code = /AADSTS(\d+)/.exec(message)?.[1];
  const status = (err as { statusCode?: unknown }).statusCode;
  // Entra's answers (4xx, or MSAL's AuthenticationRequiredError around one) are final: a 400 so
  // the SDK does not retry. Unreachable or 5xx: 502, which it may retry.
  const refused =
    code !== undefined ||
    (typeof status === "number" && status >= 400 && status < 500) ||
    (err instanceof Error && err.name === "AuthenticationRequiredError");
  const said = advice(code, c);
  const first = message.split("\n")[0] ?? "";
  const why = said !== undefined ? `AADSTS${code}: ${said}` : first;
  return {
    code,
    error: imdsError(
      refused ? 400 : 502,
      refused ? "invalid_request" : "upstream_error",
      refused
        ? `Entra ID refused the federated token for ${c.where}: ${why}`
        : `Entra ID did not answer the federated token exchange for ${c.where}: ${first}`,
    ),
  };
}

/** Federated token sources, one ClientAssertionCredential per identity's client ID. */
export class FederatedSources {
  private readonly credentials = new Map<string, TokenCredential>();
  private readonly readAssertion: () => Promise<string>;

  constructor(private readonly opts: FederationOptions) {
    this.readAssertion = assertionReader(opts.tokenFile);
  }

  source(identity: AzureIdentity): TokenSource {
    return { getToken: (resource) => this.getToken(identity, resource) };
  }

  private credentialFor(tenantId: string, clientId: string): TokenCredential {
    let c = this.credentials.get(clientId);
    if (c === undefined) {
      const make =
        this.opts.credential ??
        ((t: string, id: string, getAssertion: () => Promise<string>) =>
          new ClientAssertionCredential(t, id, getAssertion, {
            authorityHost: this.opts.authority.authorityHost,
            // Instance discovery asks login.microsoftonline.com about any other authority: off.
            disableInstanceDiscovery: true,
            ...(this.opts.authority.caPem !== undefined ? { tlsOptions: { ca: this.opts.authority.caPem } } : {}),
          }));
      c = make(tenantId, clientId, this.readAssertion);
      this.credentials.set(clientId, c);
    }
    return c;
  }

  private fail(identity: AzureIdentity, code: string | undefined, error: ImdsError): never {
    this.opts.onFailure?.(identity, code, error);
    throw new UpstreamError(error);
  }

  private async getToken(identity: AzureIdentity, resource: string) {
    const where = `AzureIdentity ${identity.metadata.namespace ?? ""}/${identity.metadata.name} (client ID ${identity.clientID})`;
    const tenantId = this.opts.tenantId;
    // `$(PODID_TENANT_ID)` left as is: Kubernetes did not expand it (the variable is not defined).
    if (tenantId === undefined || tenantId === "" || /^\$\(\w+\)$/.test(tenantId))
      this.fail(
        identity,
        undefined,
        imdsError(
          500,
          "federation_not_configured",
          `${where} is served by federation, but the NMI has no --tenant-id (the Entra tenant of federated ` +
            `identities: tenantID in ConfigMap ${FEDERATION.configMapName}${tenantId ? `; got ${tenantId} unexpanded` : ""})`,
        ),
      );
    let assertion: string;
    try {
      // Read first, so a missing volume is the NMI's error, not a confusing one from MSAL.
      assertion = await this.readAssertion();
      if (assertion === "") throw new Error("the file is empty");
    } catch (err) {
      this.fail(
        identity,
        undefined,
        imdsError(
          500,
          "federation_token_unreadable",
          `${where} is served by federation, but the NMI cannot read its service-account token ` +
            `${this.opts.tokenFile} (${err instanceof Error ? err.message : String(err)}); the NMI needs ${VOLUME_HINT}`,
        ),
      );
    }
    const ctx: RefusalContext = {
      where,
      clientId: identity.clientID,
      tenantId,
      tokenFile: this.opts.tokenFile,
      claims: assertionClaims(assertion),
    };
    try {
      const t = await this.credentialFor(tenantId, identity.clientID).getToken(scopeFor(resource));
      return fromAccessToken(t, resource, identity.clientID);
    } catch (err) {
      const { code, error } = federationError(err, ctx);
      this.fail(identity, code, error);
    }
  }
}

/**
 * At most one report per identity and code per window (a pod retrying in a loop must not write
 * an Event per request); the Event recorder's own dedup then counts repeats across windows.
 */
export function rateLimited<A extends unknown[]>(
  key: (...a: A) => string,
  fn: (...a: A) => void,
  windowMs: number,
  now: () => number = Date.now,
): (...a: A) => void {
  const last = new Map<string, number>();
  return (...a: A) => {
    const k = key(...a);
    const t = now();
    const prev = last.get(k);
    if (prev !== undefined && t - prev < windowMs) return;
    last.set(k, t);
    if (last.size > 4096) for (const [x, at] of last) if (t - at >= windowMs) last.delete(x);
    fn(...a);
  };
}
