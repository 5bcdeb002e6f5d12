// Checks a managed identity's federated client assertion (workload identity federation) the way
// Entra does: the assertion's issuer must be one a federated credential of the identity names
// (no key is fetched for an issuer nobody trusts), its keys come from the issuer's OIDC
// discovery document and the JWKS it names, the signature is RS256 under the `kid` key, the
// token is current within Entra's skew, and subject and audience match that credential (exact,
// case-sensitive, as Entra matches since 2024). The playground fetches only from 127.0.0.0/8.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { isIPv4 } from "node:net";
import { Agent, request } from "undici";
import type { FederatedCredentialRecord } from "./arm-state.ts";
import { entraErrors, type EntraError } from "./entra-errors.ts";
import { decodeJwt } from "./tokens.ts";

/** Entra's clock skew for assertion times. */
export const ASSERTION_SKEW_SECONDS = 300;
const FETCH_TIMEOUT_MS = 5_000;
const KEYS_TTL_MS = 5 * 60_000;
/** A refetch for an unknown kid happens at most this often per issuer (a key rotated at the issuer). */
const REFETCH_MIN_MS = 10_000;
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** True only for http(s) URLs whose host is an IPv4 literal in 127.0.0.0/8: the playground's network rule. */
export function isLoopbackUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return false;
  return isIPv4(u.hostname) && u.hostname.split(".")[0] === "127";
}

/** Why the issuer's keys could not be had: refused by the network rule, or the fetch failed. */
export class IssuerFetchError extends Error {
  constructor(
    message: string,
    readonly refused: boolean,
  ) {
    super(message);
    this.name = "IssuerFetchError";
  }
}

export interface IssuerKeySource {
  /** The issuer's public key with this kid, or undefined when the issuer does not publish one. */
  key(issuer: string, kid: string): Promise<KeyObject | undefined>;
}

interface CachedKeys {
  keys: Map<string, KeyObject>;
  at: number;
}

/** Fetches and caches issuers' JWKS through their discovery documents, trusting the given CAs for HTTPS. */
export class IssuerKeys implements IssuerKeySource {
  private readonly cache = new Map<string, CachedKeys>();
  private readonly cas: string[] = [];
  private agent: Agent | undefined;
  /** Every URL fetched, for tests (a refused issuer must not appear). */
  readonly fetched: string[] = [];

  constructor(
    caPems: string[] = [],
    private readonly now: () => number = Date.now,
  ) {
    this.cas.push(...caPems);
  }

  /** Trusts one more CA for issuers' HTTPS (e.g. an API server started after the stand-ins). */
  trust(caPem: string): void {
    if (this.cas.includes(caPem)) return;
    this.cas.push(caPem);
    void this.agent?.close();
    this.agent = undefined;
  }

  async key(issuer: string, kid: string): Promise<KeyObject | undefined> {
    const hit = this.cache.get(issuer);
    const now = this.now();
    if (hit !== undefined && now - hit.at < KEYS_TTL_MS) {
      const k = hit.keys.get(kid);
      if (k !== undefined || now - hit.at < REFETCH_MIN_MS) return k;
    }
    const keys = await this.load(issuer);
    this.cache.set(issuer, { keys, at: now });
    return keys.get(kid);
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  private async load(issuer: string): Promise<Map<string, KeyObject>> {
    const base = issuer.endsWith("/") ? issuer.slice(0, -1) : issuer;
    const doc = await this.getJson(`${base}/.well-known/openid-configuration`);
    const jwksUri = (doc as { jwks_uri?: unknown }).jwks_uri;
    if (typeof jwksUri !== "string")
      throw new IssuerFetchError(`${issuer}'s discovery document has no jwks_uri`, false);
    const jwks = (await this.getJson(jwksUri)) as { keys?: unknown };
    const out = new Map<string, KeyObject>();
    for (const k of Array.isArray(jwks.keys) ? (jwks.keys as Record<string, unknown>[]) : []) {
      if (k.kty !== "RSA" || typeof k.kid !== "string" || (k.use !== undefined && k.use !== "sig")) continue;
      try {
        out.set(k.kid, createPublicKey({ key: { kty: "RSA", n: k.n, e: k.e } as never, format: "jwk" }));
      } catch {
        // A key we cannot read is as good as absent.
      }
    }
    return out;
  }

  private async getJson(url: string): Promise<unknown> {
    if (!isLoopbackUrl(url))
      throw new IssuerFetchError(`the playground fetches only from 127.0.0.0/8; refused ${url}`, true);
    this.fetched.push(url);
    this.agent ??= new Agent({ connect: { ca: this.cas.length > 0 ? this.cas : undefined } });
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        headersTimeout: FETCH_TIMEOUT_MS,
        bodyTimeout: FETCH_TIMEOUT_MS,
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
      if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`${url} answered more than ${MAX_DOCUMENT_BYTES} bytes`);
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new IssuerFetchError(err instanceof Error ? err.message : String(err), false);
    }
  }
}

export type FederatedCheck =
  { ok: true; credential: FederatedCredentialRecord } | { ok: false; error: EntraError; detail?: string };

const fail = (error: EntraError, detail?: string): FederatedCheck => ({
  ok: false,
  error,
  ...(detail !== undefined ? { detail } : {}),
});

/** The assertion's claims as strings, for matching and messages (never the token itself). */
function claimsOf(c: Record<string, unknown>): { iss: string; sub: string; aud: string[] } {
  const aud = Array.isArray(c.aud) ? c.aud.map(String) : typeof c.aud === "string" ? [c.aud] : [];
  return { iss: typeof c.iss === "string" ? c.iss : "", sub: typeof c.sub === "string" ? c.sub : "", aud };
}

export async function checkFederatedAssertion(
  assertion: string,
  credentials: readonly FederatedCredentialRecord[],
  keys: IssuerKeySource,
  nowSeconds: number,
): Promise<FederatedCheck> {
  const jwt = decodeJwt(assertion);
  if (!jwt) return fail(entraErrors.malformedAssertion());
  const { iss, sub, aud } = claimsOf(jwt.claims);
  if (credentials.length === 0) return fail(entraErrors.noFederatedRecord(iss, sub, aud.join(",")));
  const byIssuer = credentials.filter((c) => c.issuer === iss);
  if (byIssuer.length === 0) return fail(entraErrors.federatedIssuer(iss));
  if (jwt.header.alg !== "RS256")
    return fail(entraErrors.federatedSignature(`Unsupported algorithm '${String(jwt.header.alg)}'.`));
  const kid = typeof jwt.header.kid === "string" ? jwt.header.kid : "";
  let key: KeyObject | undefined;
  try {
    key = await keys.key(iss, kid);
  } catch (err) {
    return fail(entraErrors.oidcEndpoint(), err instanceof Error ? err.message : String(err));
  }
  if (key === undefined) return fail(entraErrors.federatedSignature(`The key was not found., Key ID: '${kid}'`));
  if (!verify("sha256", Buffer.from(jwt.signingInput), key, jwt.signature))
    return fail(entraErrors.federatedSignature("The signature does not match the issuer's key."));
  const { exp, nbf } = jwt.claims;
  if (typeof exp !== "number" || exp + ASSERTION_SKEW_SECONDS <= nowSeconds)
    return fail(entraErrors.federatedTime(nowSeconds, nbf, exp));
  if (typeof nbf === "number" && nbf > nowSeconds + ASSERTION_SKEW_SECONDS)
    return fail(entraErrors.federatedTime(nowSeconds, nbf, exp));
  const bySubject = byIssuer.filter((c) => c.subject === sub);
  if (bySubject.length === 0) return fail(entraErrors.federatedSubject(sub));
  const match = bySubject.find((c) => c.audiences.some((a) => aud.includes(a)));
  if (match === undefined) return fail(entraErrors.federatedAudience(aud.join(",")));
  return { ok: true, credential: match };
}
