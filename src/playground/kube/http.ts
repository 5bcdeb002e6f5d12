// The HTTP edge: bearer authentication, body limits, routing to the API operations, and
// Status objects for every error. The resource routes (Tables for kubectl, admission warnings
// as `Warning: 299 - "..."` headers) are in http-resource.ts, watch streams in http-watch.ts,
// the other paths in http-paths.ts, what they share in http-request.ts. No decisions here.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { KubeApi } from "./api.ts";
import { apiGroup, apiResourceList } from "./discovery.ts";
import { servePath } from "./http-paths.ts";
import { sendError, type Query } from "./http-request.ts";
import { serveResource, type ResourceContext } from "./http-resource.ts";
import { route } from "./routing.ts";
import { ApiError, methodNotAllowed, pathNotFound, tooLarge, unauthorized } from "./status.ts";
import type { TokenApi } from "./token-api.ts";
import type { UserInfo } from "./types.ts";

export { warningHeader } from "./http-request.ts";

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface HttpOptions {
  https: { key: string; cert: string };
  authenticate(token: string): UserInfo | undefined;
  tokens: TokenApi;
  serverAddress(): string;
  bookmarkIntervalMs: number;
  jwks(): unknown;
  /** The service-account issuer: the server's own URL, so its discovery documents can be fetched by it. */
  issuer(): string;
}

const ADMIN_PATHS_ANONYMOUS = new Set([
  "/version",
  "/healthz",
  "/livez",
  "/readyz",
  "/openid/v1/jwks",
  "/.well-known/openid-configuration",
]);

export function buildHttpApp(api: KubeApi, opts: HttpOptions): { app: FastifyInstance; closeWatches: () => void } {
  const app = Fastify({
    https: opts.https,
    bodyLimit: MAX_BODY_BYTES,
    logger: false,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });
  const ctx: ResourceContext = { api, opts, bookmarkIntervalMs: opts.bookmarkIntervalMs, open: new Set() };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: unknown, _req, reply) => sendError(reply, asApiError(err)));
  app.setNotFoundHandler((_req, reply) => sendError(reply, pathNotFound()));
  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    url: "/*",
    handler: (req, reply) => dispatch(ctx, req, reply),
  });
  app.route({
    method: ["GET"],
    url: "/",
    handler: () => ({ paths: ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"] }),
  });
  return {
    app,
    closeWatches: () => {
      for (const f of [...ctx.open]) f();
    },
  };
}

/** Fastify's own errors (a body too large, a bad request) as the API server's Status. */
function asApiError(err: unknown): unknown {
  const e = err as { code?: string; statusCode?: number };
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || e.statusCode === 413) return tooLarge(MAX_BODY_BYTES);
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500 && !(err instanceof ApiError))
    return new ApiError(e.statusCode, "BadRequest", err instanceof Error ? err.message : String(err));
  return err;
}

/** Authenticates, then routes: a resource, a group's discovery, or another path. */
async function dispatch(ctx: ResourceContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { api, opts } = ctx;
  const url = new URL(req.url, "https://localhost");
  const q: Query = Object.fromEntries(url.searchParams.entries());
  const auth = req.headers.authorization;
  const user = auth?.startsWith("Bearer ") === true ? opts.authenticate(auth.slice(7).trim()) : undefined;
  if (user === undefined && !ADMIN_PATHS_ANONYMOUS.has(url.pathname)) return sendError(reply, unauthorized());
  const r = route(api.registry, url.pathname);
  if (r.kind === "other") return servePath(api, opts, r.path, reply);
  if (r.kind !== "resource" && req.method !== "GET") throw methodNotAllowed();
  if (r.kind === "group") return apiGroup(api.registry, r.group) ?? sendError(reply, pathNotFound());
  if (r.kind === "groupVersion")
    return apiResourceList(api.registry, r.group, r.version) ?? sendError(reply, pathNotFound());
  return serveResource({ ctx, rr: r.req, req, reply, q, user: user! });
}
