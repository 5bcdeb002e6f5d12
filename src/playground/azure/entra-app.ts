// The Entra ID stand-in: OpenID configuration, JWKS, and the client-credentials token endpoint
// that ClientSecretCredential and ClientCertificateCredential call (with `authorityHost` set to
// this server and instance discovery disabled), and ClientAssertionCredential for a managed
// identity's federated credentials (federated-assertion.ts). Tokens are v1 access tokens that Azurite and
// the ARM stand-in accept.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { serverFor } from "./arm-app.ts";
import type { CallLog } from "./calls.ts";
import type { ArmState } from "./arm-state.ts";
import { checkClientAssertion } from "./client-assertion.ts";
import { entraErrors, type EntraError } from "./entra-errors.ts";
import { checkFederatedAssertion, type IssuerKeySource } from "./federated-assertion.ts";
import { idKey } from "./ids.ts";
import { ENTRA } from "./names.ts";
import type { ServicePrincipal, ServicePrincipals } from "./service-principals.ts";
import { mintAccessToken, type SigningKey, type TokenSubject } from "./tokens.ts";

export interface EntraAppDeps {
  tenantId: string;
  principals: ServicePrincipals;
  key: SigningKey;
  calls: CallLog;
  now: () => number;
  https?: { key: string; cert: string };
  /** User-assigned identities and their federated credentials (Resource Manager's), for federated assertions. */
  arm?: Pick<ArmState, "identities" | "federatedCredentials">;
  /** Where issuers' signing keys come from (discovery + JWKS, loopback only). */
  issuerKeys?: IssuerKeySource;
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export function buildEntraApp(deps: EntraAppDeps): FastifyInstance {
  const app = serverFor(deps.https);
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  const origin = (req: FastifyRequest): string => `https://${req.headers.host ?? "127.0.0.1"}`;
  const knownTenant = (t: string): boolean => t.toLowerCase() === deps.tenantId.toLowerCase();
  const record = (req: FastifyRequest, operation: string, status: number, target: string): void =>
    deps.calls.record({
      service: "entra",
      method: req.method,
      resource: operation,
      operation,
      target,
      status,
      at: deps.now(),
    });
  const sendError = async (
    req: FastifyRequest,
    reply: FastifyReply,
    e: EntraError,
    op: string,
    target = "",
  ): Promise<void> => {
    record(req, op, e.status, target);
    await reply.code(e.status).send(e.body);
  };

  const openid =
    (version: "v1" | "v2") =>
    async (req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply): Promise<void> => {
      const { tenant } = req.params;
      if (!knownTenant(tenant)) return sendError(req, reply, entraErrors.tenantNotFound(tenant), "openid");
      const base = `${origin(req)}/${deps.tenantId}`;
      const v = version === "v2" ? "/v2.0" : "";
      record(req, "openid", 200, "");
      await reply.send({
        issuer: version === "v2" ? `${base}/v2.0` : `https://sts.windows.net/${deps.tenantId}/`,
        token_endpoint: `${base}/oauth2${v}/token`,
        authorization_endpoint: `${base}/oauth2${v}/authorize`,
        jwks_uri: `${base}/discovery${v}/keys`,
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        tenant_region_scope: "EU",
        cloud_instance_name: "microsoftonline.com",
      });
    };

  const jwks = async (req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply): Promise<void> => {
    record(req, "jwks", 200, "");
    await reply.send({ keys: [deps.key.jwk] });
  };

  const token =
    (version: "v1" | "v2") =>
    async (req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply): Promise<void> => {
      const { tenant } = req.params;
      if (!knownTenant(tenant)) return sendError(req, reply, entraErrors.tenantNotFound(tenant), "token");
      const form = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<
        string,
        string | undefined
      >;
      const clientId = form.client_id ?? "";
      const fail = (e: EntraError): Promise<void> => sendError(req, reply, e, "token", clientId);
      if (form.grant_type !== "client_credentials")
        return fail(
          form.grant_type ? entraErrors.unsupportedGrant(form.grant_type) : entraErrors.missingParameter("grant_type"),
        );
      if (!clientId) return fail(entraErrors.missingParameter("client_id"));
      const audience = version === "v2" ? audienceOfScope(form.scope) : form.resource;
      if (audience === undefined)
        return fail(
          version === "v2" ? entraErrors.invalidScope(form.scope ?? "") : entraErrors.missingParameter("resource"),
        );
      const nowSeconds = Math.floor(deps.now() / 1000);
      const sp = deps.principals.lookup(clientId);
      const base = `${origin(req)}/${tenant}`;
      const who = sp
        ? principalSubject(sp, form, [`${base}/oauth2/v2.0/token`, `${base}/oauth2/token`], nowSeconds)
        : await federatedSubject(deps, form, clientId, nowSeconds);
      if (who === undefined) return fail(entraErrors.unknownApp(clientId, tenant));
      if ("error" in who) return fail(who.error);
      const { subject } = who;
      const minted = mintAccessToken({
        key: deps.key,
        tenantId: deps.tenantId,
        audience,
        subject,
        nowSeconds,
        lifetimeSeconds: ENTRA.tokenLifetimeSeconds,
      });
      record(req, "token", 200, clientId);
      await reply.send({
        token_type: "Bearer",
        expires_in: ENTRA.tokenLifetimeSeconds,
        ext_expires_in: ENTRA.tokenLifetimeSeconds,
        ...(version === "v1" ? { expires_on: String(minted.expiresOn), resource: audience } : {}),
        access_token: minted.token,
      });
    };

  app.get("/:tenant/v2.0/.well-known/openid-configuration", openid("v2"));
  app.get("/:tenant/.well-known/openid-configuration", openid("v1"));
  app.get("/:tenant/discovery/v2.0/keys", jwks);
  app.get("/:tenant/discovery/keys", jwks);
  app.post("/:tenant/oauth2/v2.0/token", token("v2"));
  app.post("/:tenant/oauth2/token", token("v1"));
  return app;
}

/** An app registration's token by certificate assertion (type 2) or secret (type 1). */
function principalSubject(
  sp: ServicePrincipal,
  form: Record<string, string | undefined>,
  tokenEndpoints: string[],
  nowSeconds: number,
): { subject: TokenSubject } | { error: EntraError } {
  if (form.client_assertion !== undefined) {
    if (form.client_assertion_type !== JWT_BEARER)
      return { error: entraErrors.missingParameter("client_assertion_type") };
    const err = checkClientAssertion(form.client_assertion, sp, tokenEndpoints, nowSeconds);
    if (err) return { error: err };
    return { subject: { clientId: sp.clientId, objectId: sp.objectId, authMethod: "2" } };
  }
  if (form.client_secret !== undefined) {
    if (!sp.secrets.includes(form.client_secret)) return { error: entraErrors.invalidSecret(sp.clientId) };
    return { subject: { clientId: sp.clientId, objectId: sp.objectId, authMethod: "1" } };
  }
  return { error: entraErrors.noCredential() };
}

/**
 * A user-assigned identity's token by federated assertion: undefined when no identity has this
 * client ID (the caller answers "unknown app"), else the identity as the token's subject (as for
 * its IMDS tokens, so Azurite and Resource Manager accept it) or Entra's refusal.
 */
async function federatedSubject(
  deps: EntraAppDeps,
  form: Record<string, string | undefined>,
  clientId: string,
  nowSeconds: number,
): Promise<{ subject: TokenSubject } | { error: EntraError } | undefined> {
  if (deps.arm === undefined || deps.issuerKeys === undefined) return undefined;
  const identity = [...deps.arm.identities.values()].find((i) => i.clientId.toLowerCase() === clientId.toLowerCase());
  if (identity === undefined) return undefined;
  if (form.client_assertion === undefined) return { error: entraErrors.noCredential() };
  if (form.client_assertion_type !== JWT_BEARER)
    return { error: entraErrors.missingParameter("client_assertion_type") };
  const credentials = [...(deps.arm.federatedCredentials.get(idKey(identity.id))?.values() ?? [])];
  const r = await checkFederatedAssertion(form.client_assertion, credentials, deps.issuerKeys, nowSeconds);
  if (!r.ok) return { error: r.error };
  return {
    subject: {
      clientId: identity.clientId,
      objectId: identity.principalId,
      resourceId: identity.id.replace(/\/resourceGroups\//i, "/resourcegroups/"),
      authMethod: "2",
    },
  };
}

/** `https://storage.azure.com/.default` → `https://storage.azure.com`; undefined unless exactly one `/.default` scope. */
export function audienceOfScope(scope: string | undefined): string | undefined {
  const scopes = (scope ?? "")
    .split(" ")
    .filter((s) => s !== "" && !["openid", "profile", "offline_access"].includes(s));
  if (scopes.length !== 1 || !scopes[0]!.endsWith("/.default")) return undefined;
  const resource = scopes[0]!.slice(0, -"/.default".length);
  return resource === "" ? undefined : resource;
}
