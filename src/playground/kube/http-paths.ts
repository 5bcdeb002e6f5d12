// The API server's paths that are not resources: version, health, discovery, OpenAPI and the
// service-account issuer's OIDC documents.
import type { FastifyReply } from "fastify";
import type { KubeApi } from "./api.ts";
import { apiGroupList, apiVersions, openapiDocument, openapiIndex, versionInfo } from "./discovery.ts";
import type { HttpOptions } from "./http.ts";
import { sendError } from "./http-request.ts";
import { pathNotFound } from "./status.ts";

function oidcDiscovery(opts: HttpOptions): Record<string, unknown> {
  return {
    issuer: opts.issuer(),
    jwks_uri: `${opts.serverAddress()}/openid/v1/jwks`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
  };
}

export function servePath(api: KubeApi, opts: HttpOptions, path: string, reply: FastifyReply): unknown {
  if (path === "/version") return versionInfo();
  if (path === "/healthz" || path === "/livez" || path === "/readyz") return reply.type("text/plain").send("ok");
  if (path === "/api") return apiVersions(opts.serverAddress());
  if (path === "/apis") return apiGroupList(api.registry);
  if (path === "/openapi/v3") return openapiIndex(api.registry);
  // The real server's media type for the key set (it answers 406 to a JSON-only Accept; not emulated).
  if (path === "/openid/v1/jwks")
    return reply.header("content-type", "application/jwk-set+json").send(Buffer.from(JSON.stringify(opts.jwks())));
  if (path === "/.well-known/openid-configuration") return oidcDiscovery(opts);
  const m = /^\/openapi\/v3\/(api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (m !== null) {
    const doc =
      m[2] !== undefined ? openapiDocument(api.registry, "", m[2]) : openapiDocument(api.registry, m[3]!, m[4]!);
    if (doc !== undefined) return doc;
  }
  return sendError(reply, pathNotFound());
}
