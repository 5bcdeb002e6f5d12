// Where tokens come from, behind one narrow interface. Type 0 (user-assigned managed
// identity) asks the node's IMDS by the identity's resource ID (`msi_res_id`: the resource ID
// is what the policy allowed and the reconciler assigned; a ClientID is only what the
// AzureIdentity claims), over a plain HTTP client and through the upstream limiter; types 1
// and 2 (service principals) use @azure/identity with the secret or certificate read from the
// referenced Secret. Tokens only flow back to the
// caller: nothing here logs them.
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  type AccessToken,
  type TokenCredential,
} from "@azure/identity";
import { resourceIdKey } from "../model/identity.ts";
import type { AzureIdentity } from "../model/types.ts";
import { imdsError, type ImdsError, type Token } from "./imds.ts";
import type { UpstreamLimiter } from "./limiter.ts";

export interface TokenSource {
  getToken(resource: string): Promise<Token>;
}

/** An upstream refusal or failure, carried to the caller in IMDS's error shape. */
export class UpstreamError extends Error {
  constructor(readonly imds: ImdsError) {
    super(imds.description);
    this.name = "UpstreamError";
  }
}

export const IMDS_API_VERSION = "2018-02-01";
const UPSTREAM_TIMEOUT_MS = 15_000;

/** The IMDS token endpoint's JSON: numbers arrive as strings. */
function tokenFromImds(body: unknown, resource: string, clientId: string | undefined): Token {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const accessToken = b.access_token;
  const expiresOn = Number(b.expires_on ?? NaN);
  const expiresIn = Number(b.expires_in ?? NaN);
  const exp = Number.isFinite(expiresOn) ? expiresOn : Date.now() / 1000 + expiresIn;
  if (typeof accessToken !== "string" || accessToken === "" || !Number.isFinite(exp)) {
    throw new UpstreamError(
      imdsError(502, "bad_upstream_response", "IMDS answered without access_token and expires_on"),
    );
  }
  const nbf = Number(b.not_before ?? NaN);
  return {
    accessToken,
    expiresOn: exp,
    resource: typeof b.resource === "string" ? b.resource : resource,
    clientId,
    ...(Number.isFinite(nbf) ? { notBefore: nbf } : {}),
  };
}

export interface ImdsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Seconds a caller is told to wait when the node's IMDS does not know an identity yet. */
export const PROPAGATION_RETRY_SECONDS = 5;

/**
 * IMDS's refusal, as the NMI passes it on. We only ask IMDS for identities whose assignment
 * Resource Manager has finished, so "not found" (400/404) means the VM has not picked the
 * identity up yet: a 503 with Retry-After, which the SDKs retry, instead of a final 400.
 */
export function imdsRefusal(res: ImdsResponse, body: unknown, identity: string): ImdsError {
  const b = (typeof body === "object" && body !== null ? body : {}) as { error?: unknown; error_description?: unknown };
  const said = typeof b.error_description === "string" ? b.error_description : res.body.slice(0, 200);
  if (res.status === 400 || res.status === 404) {
    return imdsError(
      503,
      "identity_not_ready",
      `The node's IMDS does not have identity ${identity} yet (${said}); it was just assigned, retry shortly`,
      PROPAGATION_RETRY_SECONDS,
    );
  }
  const retry = Number(res.headers["retry-after"]);
  return imdsError(
    res.status,
    typeof b.error === "string" ? b.error : "upstream_error",
    `IMDS refused the token for identity ${identity}: ${said}`,
    Number.isFinite(retry) ? retry : undefined,
  );
}

/** A plain HTTP client for the node's IMDS, shared by token fetches and the exception proxy. */
export class ImdsClient {
  constructor(
    private readonly endpoint: string,
    private readonly limiter: UpstreamLimiter,
    private readonly onCall: (kind: "token" | "proxy", outcome: string) => void = () => undefined,
  ) {}

  /** GET `pathAndQuery` on IMDS with `Metadata: true`, inside the upstream limits. */
  async get(pathAndQuery: string, kind: "token" | "proxy"): Promise<ImdsResponse> {
    return this.limiter.run(async () => {
      try {
        const res = await fetch(new URL(pathAndQuery, this.endpoint), {
          headers: { Metadata: "true" },
          signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
        });
        const body = await res.text();
        this.onCall(kind, String(res.status));
        const headers: Record<string, string> = {};
        for (const h of ["content-type", "retry-after"]) {
          const v = res.headers.get(h);
          if (v !== null) headers[h] = v;
        }
        return { status: res.status, headers, body };
      } catch (err) {
        this.onCall(kind, "error");
        const why = err instanceof Error ? err.message : String(err);
        throw new UpstreamError(
          imdsError(502, "upstream_unreachable", `The node's IMDS at ${this.endpoint} did not answer: ${why}`),
        );
      }
    });
  }

  /**
   * Tokens of a user-assigned identity, asked for by resource ID. IMDS's answer names the
   * identity's client ID; one that is not the AzureIdentity's is refused, not handed out.
   */
  source(identity: { resourceID: string; clientID: string }): TokenSource {
    return {
      getToken: async (resource) => {
        const q = new URLSearchParams({ "api-version": IMDS_API_VERSION, resource, msi_res_id: identity.resourceID });
        const res = await this.get(`/metadata/identity/oauth2/token?${q.toString()}`, "token");
        let body: unknown;
        try {
          body = JSON.parse(res.body);
        } catch {
          body = undefined;
        }
        if (res.status !== 200) throw new UpstreamError(imdsRefusal(res, body, identity.resourceID));
        const token = tokenFromImds(body, resource, identity.clientID);
        const said = (body as { client_id?: unknown }).client_id;
        if (typeof said === "string" && said.toLowerCase() !== identity.clientID.toLowerCase())
          throw new UpstreamError(
            imdsError(
              403,
              "access_denied",
              `Identity ${identity.resourceID} has client ID ${said.toLowerCase()}, not ${identity.clientID} ` +
                `as its AzureIdentity says; not served`,
            ),
          );
        return token;
      },
    };
  }
}

/** Secret data, already base64-decoded. */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string>>;

/** The keys a service-principal Secret holds (AAD Pod Identity's `clientsecret`, or a PEM). */
export const SECRET_KEYS = {
  clientSecret: "clientsecret",
  certificate: "certificate",
  tlsCert: "tls.crt",
  tlsKey: "tls.key",
} as const;

/** `https://storage.azure.com` → `https://storage.azure.com/.default`, as the v2 endpoint wants. */
export function scopeFor(resource: string): string {
  return resource.endsWith("/") ? `${resource}.default` : `${resource}/.default`;
}

/** An @azure/identity access token in the IMDS shape the NMI serves. */
export function fromAccessToken(t: AccessToken | null, resource: string, clientId: string): Token {
  if (t === null) throw new Error("no token returned");
  return { accessToken: t.token, expiresOn: Math.floor(t.expiresOnTimestamp / 1000), resource, clientId };
}

export interface AuthorityOptions {
  authorityHost: string;
  /** Extra CA (PEM) to trust for the authority, e.g. a private Entra stand-in. */
  caPem?: string;
}

function credentialFor(
  identity: AzureIdentity,
  data: Record<string, string>,
  authority: AuthorityOptions,
): TokenCredential {
  // Instance discovery asks login.microsoftonline.com about any other authority: off.
  const opts = {
    authorityHost: authority.authorityHost,
    disableInstanceDiscovery: true,
    ...(authority.caPem !== undefined ? { tlsOptions: { ca: authority.caPem } } : {}),
  };
  const tenant = identity.tenantID ?? "";
  if (identity.type === 1) {
    const secret = data[SECRET_KEYS.clientSecret];
    if (secret === undefined || secret === "") throw new Error(`the Secret has no '${SECRET_KEYS.clientSecret}' key`);
    return new ClientSecretCredential(tenant, identity.clientID, secret.trim(), opts);
  }
  const pem =
    data[SECRET_KEYS.certificate] ??
    (data[SECRET_KEYS.tlsCert] !== undefined
      ? `${data[SECRET_KEYS.tlsCert]}\n${data[SECRET_KEYS.tlsKey] ?? ""}`
      : undefined);
  if (pem === undefined || !pem.includes("PRIVATE KEY")) {
    throw new Error(
      `the Secret needs '${SECRET_KEYS.certificate}' (PEM certificate and private key) or '${SECRET_KEYS.tlsCert}' ` +
        `and '${SECRET_KEYS.tlsKey}'`,
    );
  }
  return new ClientCertificateCredential(tenant, identity.clientID, { certificate: pem }, opts);
}

/** A service principal's tokens; the Secret is read when a token is needed, not cached. */
export function servicePrincipalSource(
  identity: AzureIdentity,
  readSecret: SecretReader,
  authority: AuthorityOptions,
): TokenSource {
  return {
    async getToken(resource) {
      const ref = identity.clientPassword;
      const where = `AzureIdentity ${identity.metadata.namespace ?? ""}/${identity.metadata.name}`;
      if (ref === undefined)
        throw new UpstreamError(imdsError(500, "invalid_identity", `${where} has no clientPassword Secret`));
      // A tenant's identity may only use a Secret of its own namespace.
      if (ref.namespace !== identity.metadata.namespace) {
        throw new UpstreamError(
          imdsError(
            403,
            "access_denied",
            `${where} refers to Secret ${ref.namespace}/${ref.name} in another namespace`,
          ),
        );
      }
      let credential: TokenCredential;
      try {
        credential = credentialFor(identity, await readSecret(ref.namespace, ref.name), authority);
      } catch (err) {
        throw new UpstreamError(
          imdsError(
            500,
            "invalid_identity",
            `${where}: Secret ${ref.namespace}/${ref.name}: ${err instanceof Error ? err.message : String(err)}`,
          ),
        );
      }
      try {
        return fromAccessToken(await credential.getToken(scopeFor(resource)), resource, identity.clientID);
      } catch (err) {
        // Entra's refusals (wrong secret, unknown app: AuthenticationError with a 4xx, or
        // MSAL's AuthenticationRequiredError) are final, so answer 400 and the SDK won't retry;
        // anything else (unreachable, 5xx) is a 502 it may retry.
        const status = (err as { statusCode?: unknown }).statusCode;
        const refused =
          (typeof status === "number" && status >= 400 && status < 500) ||
          (err instanceof Error && err.name === "AuthenticationRequiredError");
        const code = refused ? 400 : 502;
        throw new UpstreamError(
          imdsError(
            code,
            "upstream_error",
            `Entra ID refused ${where}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
          ),
        );
      }
    },
  };
}

/**
 * The cache key of an identity's tokens: managed identities by resource ID (two AzureIdentities
 * claiming one ClientID must never share tokens), principals by object.
 */
export function identityKey(identity: AzureIdentity): string {
  if (identity.type === 0) return `mi|${resourceIdKey(identity.resourceID ?? "")}|${identity.clientID}|`;
  return `sp|${identity.metadata.namespace ?? ""}/${identity.metadata.name}|${identity.clientID}|${identity.tenantID ?? ""}|`;
}
