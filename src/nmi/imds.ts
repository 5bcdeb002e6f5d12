// The IMDS token contract as the Azure SDKs speak it: parsing a request into a typed value,
// and the error and token shapes IMDS answers with. Pure: no sockets, no state. The SDKs
// branch on the status code (400 is final, 404/410/429/5xx are retried), so every refusal
// below picks its code deliberately.
import { PATHS } from "../model/constants.ts";

/** Which identity the caller named, if any (at most one of the three IMDS parameters). */
export type IdentityRequest =
  | { by: "none" }
  | { by: "client_id"; value: string }
  | { by: "object_id"; value: string }
  | { by: "msi_res_id"; value: string };

export interface TokenRequest {
  apiVersion: string;
  resource: string;
  identity: IdentityRequest;
}

export interface ImdsError {
  status: number;
  error: string;
  description: string;
  /** Seconds, for 429 and 503 answers. */
  retryAfter?: number;
}

export type ParsedTokenRequest = { ok: true; value: TokenRequest } | { ok: false; error: ImdsError };

export const imdsError = (status: number, error: string, description: string, retryAfter?: number): ImdsError =>
  retryAfter === undefined ? { status, error, description } : { status, error, description, retryAfter };

export const badRequest = (description: string): ImdsError => imdsError(400, "invalid_request", description);
export const forbidden = (description: string): ImdsError => imdsError(403, "access_denied", description);

/** The JSON body IMDS sends with an error. */
export const errorBody = (e: ImdsError): { error: string; error_description: string } => ({
  error: e.error,
  error_description: e.description,
});

/** True for the token path, with or without the trailing slash the SDK adds. */
export function isTokenPath(path: string): boolean {
  return path === PATHS.imdsToken || path === `${PATHS.imdsToken}/`;
}

type Query = Record<string, string | string[] | undefined>;
type Headers = Record<string, string | string[] | undefined>;

function single(q: Query, name: string): { ok: true; value: string | undefined } | { ok: false } {
  const v = q[name];
  if (Array.isArray(v)) return v.length === 1 ? { ok: true, value: v[0] } : { ok: false };
  return { ok: true, value: v };
}

/** Header lookup by lower-case name (Node lower-cases them; hand-built maps may not). */
function header(h: Headers, name: string): string | undefined {
  let v = h[name];
  if (v === undefined) {
    for (const [k, x] of Object.entries(h)) if (k.toLowerCase() === name) v = x;
  }
  return Array.isArray(v) ? v.join(",") : v;
}

const IDENTITY_PARAMS = ["client_id", "object_id", "msi_res_id"] as const;
const MAX_PARAM_LENGTH = 2048;

function parseIdentity(q: Query): { ok: true; value: IdentityRequest } | { ok: false; error: ImdsError } {
  let found: IdentityRequest = { by: "none" };
  for (const name of IDENTITY_PARAMS) {
    const v = single(q, name);
    if (!v.ok) return { ok: false, error: badRequest(`Query parameter '${name}' must be given at most once`) };
    if (v.value === undefined || v.value === "") continue;
    if (found.by !== "none") {
      return { ok: false, error: badRequest("Only one of client_id, object_id and msi_res_id may be given") };
    }
    found = { by: name, value: v.value };
  }
  return { ok: true, value: found };
}

/**
 * Parses a token request the way IMDS checks it: header checks first (a request without
 * `Metadata: true`, or one that went through a proxy, is refused before anything else),
 * then the query.
 */
export function parseTokenRequest(query: Query, headers: Headers): ParsedTokenRequest {
  if (header(headers, "x-forwarded-for") !== undefined) {
    return { ok: false, error: badRequest("Requests with an X-Forwarded-For header are not allowed") };
  }
  if (header(headers, "metadata")?.toLowerCase() !== "true") {
    return { ok: false, error: badRequest("Required metadata header not specified") };
  }
  for (const name of ["api-version", "resource", ...IDENTITY_PARAMS]) {
    const v = query[name];
    const values = Array.isArray(v) ? v : v === undefined ? [] : [v];
    if (values.some((s) => s.length > MAX_PARAM_LENGTH)) {
      return {
        ok: false,
        error: badRequest(`Query parameter '${name}' is longer than ${MAX_PARAM_LENGTH} characters`),
      };
    }
  }
  const apiVersion = single(query, "api-version");
  if (!apiVersion.ok || apiVersion.value === undefined || apiVersion.value === "") {
    return { ok: false, error: badRequest("Required query variable 'api-version' is missing") };
  }
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion.value)) {
    return {
      ok: false,
      error: badRequest(`Invalid api-version '${apiVersion.value}' (expected a date such as 2018-02-01)`),
    };
  }
  const resource = single(query, "resource");
  if (!resource.ok || resource.value === undefined || resource.value === "") {
    return { ok: false, error: badRequest("Required audience parameter 'resource' not specified") };
  }
  const identity = parseIdentity(query);
  if (!identity.ok) return identity;
  return { ok: true, value: { apiVersion: apiVersion.value, resource: resource.value, identity: identity.value } };
}

/** A token as the NMI holds it; `expiresOn` in epoch seconds. */
export interface Token {
  accessToken: string;
  expiresOn: number;
  notBefore?: number;
  resource: string;
  clientId?: string;
}

/** IMDS's token response shape (numbers as strings, as IMDS sends them). */
export function tokenBody(t: Token, nowSeconds: number): Record<string, string> {
  const body: Record<string, string> = {
    access_token: t.accessToken,
    expires_in: String(Math.max(0, Math.floor(t.expiresOn - nowSeconds))),
    expires_on: String(Math.floor(t.expiresOn)),
    ext_expires_in: String(Math.max(0, Math.floor(t.expiresOn - nowSeconds))),
    not_before: String(Math.floor(t.notBefore ?? nowSeconds)),
    resource: t.resource,
    token_type: "Bearer",
  };
  if (t.clientId !== undefined) body.client_id = t.clientId;
  return body;
}
