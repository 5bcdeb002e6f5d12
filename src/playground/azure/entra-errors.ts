// Entra ID's OAuth error responses: status, `error`, and the AADSTS code and text Entra sends,
// with the trace fields MSAL expects alongside.
import { randomUUID } from "node:crypto";

export interface EntraError {
  status: number;
  body: Record<string, unknown>;
}

function entraError(status: number, error: string, code: number, text: string): EntraError {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

export const entraErrors = {
  tenantNotFound: (tenant: string): EntraError =>
    entraError(
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    ),
  unsupportedGrant: (grant: string): EntraError =>
    entraError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grant}'.`),
  missingParameter: (name: string): EntraError =>
    entraError(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`),
  invalidScope: (scope: string): EntraError =>
    entraError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope ` +
        `value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  unknownApp: (clientId: string, tenant: string): EntraError =>
    entraError(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This ` +
        `can happen if the application has not been installed by the administrator of the tenant or ` +
        `consented to by any user in the tenant. You may have sent your authentication request to the ` +
        `wrong tenant.`,
    ),
  invalidSecret: (clientId: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client ` +
        `secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  noCredential: (): EntraError =>
    entraError(
      401,
      "invalid_client",
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
  unknownCertificate: (clientId: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application '${clientId}'.`,
    ),
  badAssertion: (why: string): EntraError =>
    entraError(401, "invalid_client", 700027, `Client assertion failed signature validation. ${why}`),
  assertionAudience: (aud: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      700212,
      `No matching federated identity record found for presented assertion audience '${aud}'.`,
    ),
  assertionSubject: (): EntraError =>
    entraError(
      401,
      "invalid_client",
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter.",
    ),
  assertionExpired: (): EntraError =>
    entraError(401, "invalid_client", 700024, "Client assertion is not within its valid time range."),
  // Workload identity federation (a managed identity's federated credentials). Texts as Entra
  // sends them (seen in public issue threads); status 400 for 70021 and 50166 as observed,
  // 401 invalid_client for the per-field mismatches like the other assertion errors here.
  noFederatedRecord: (iss: string, sub: string, aud: string): EntraError =>
    entraError(
      400,
      "invalid_request",
      70021,
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. ` +
        `Assertion Subject: '${sub}'. Assertion Audience: '${aud}'.`,
    ),
  federatedIssuer: (iss: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      700211,
      `No matching federated identity record found for presented assertion issuer '${iss}'. Please check your ` +
        `federated identity credential Subject, Audience and Issuer against the presented assertion.`,
    ),
  federatedSubject: (sub: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      700213,
      `No matching federated identity record found for presented assertion subject '${sub}'. Check your ` +
        `federated identity credential Subject, Audience and Issuer against the presented assertion.`,
    ),
  federatedAudience: (aud: string): EntraError =>
    entraError(
      401,
      "invalid_client",
      700212,
      `No matching federated identity record found for presented assertion audience '${aud}'.`,
    ),
  federatedTime: (now: number, nbf: unknown, exp: unknown): EntraError =>
    entraError(
      401,
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${iso(now)}, assertion valid from ` +
        `${typeof nbf === "number" ? iso(nbf) : "(none)"}, expiry time of assertion ${typeof exp === "number" ? iso(exp) : "(none)"}.`,
    ),
  /** The issuer's discovery document or keys could not be fetched (or, here, were not on loopback). */
  oidcEndpoint: (): EntraError =>
    entraError(400, "invalid_request", 50166, "Request to External OIDC endpoint failed."),
  federatedSignature: (why: string): EntraError =>
    entraError(401, "invalid_client", 700027, `Client assertion contains an invalid signature. [Reason - ${why}]`),
  malformedAssertion: (): EntraError => entraError(400, "invalid_request", 50027, "JWT token is invalid or malformed."),
};

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
