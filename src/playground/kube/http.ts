// The HTTP edge: bearer authentication, body limits and parsing, routing to the API
// operations, Tables for kubectl, watch streams (headers flushed at once, newline-delimited
// events, bookmarks, 410 as an ERROR event), Status objects for every error and admission
// warnings as `Warning: 299 - "..."` headers. No decisions are made here.
import { Readable } from "node:stream";
import { parse as parseYaml } from "yaml";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { DeleteOptions, KubeApi, RequestCtx } from "./api.ts";
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openapiDocument,
  openapiIndex,
  versionInfo,
} from "./discovery.ts";
import { route, type ResourceRequest } from "./routing.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import {
  ApiError,
  badRequest,
  methodNotAllowed,
  pathNotFound,
  successStatus,
  tooLarge,
  toApiError,
  unauthorized,
} from "./status.ts";
import { objectJson, type EventType } from "./store.ts";
import { toTable, wantsTable } from "./table.ts";
import { applyPatchOfType } from "./patch.ts";
import { decodeKubeProtobuf } from "./protobuf.ts";
import { replicasOf, toScale } from "./scale.ts";
import type { TokenApi } from "./token-api.ts";
import { bind } from "./controllers/nodes.ts";
import { apiVersionOf, isRecord, resourceKey, type KObject, type ResourceDef, type UserInfo } from "./types.ts";

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface HttpOptions {
  https: { key: string; cert: string };
  authenticate(token: string): UserInfo | undefined;
  tokens: TokenApi;
  serverAddress(): string;
  bookmarkIntervalMs: number;
  jwks(): unknown;
  issuer: string;
}

type Query = Record<string, string | undefined>;

const ADMIN_PATHS_ANONYMOUS = new Set([
  "/version",
  "/healthz",
  "/livez",
  "/readyz",
  "/openid/v1/jwks",
  "/.well-known/openid-configuration",
]);

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toApiError(err);
  for (const w of e.warnings) void reply.header("warning", warningHeader(w));
  return reply.code(e.code).type("application/json").send(e.toStatus());
}

/** RFC 7234 warning with the apiserver's agent `-`: kubectl prints `Warning: <text>`. */
export const warningHeader = (text: string): string => `299 - "${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** The request body as JSON: JSON as sent, or kubectl's protobuf for the kinds it creates that way. */
function parseBody(req: FastifyRequest): unknown {
  const body = req.body;
  const type = req.headers["content-type"] ?? "";
  if (Buffer.isBuffer(body) && type.startsWith("application/vnd.kubernetes.protobuf")) return decodeKubeProtobuf(body);
  if (Buffer.isBuffer(body) && type.startsWith("application/yaml")) {
    try {
      return parseYaml(body.toString("utf8")) as unknown;
    } catch (err) {
      throw badRequest(
        `error converting YAML to JSON: ${err instanceof Error ? err.message.split("\n")[0]! : String(err)}`,
      );
    }
  }
  return parseJsonBody(body);
}

function parseJsonBody(body: unknown): unknown {
  if (body === undefined || body === null) return undefined;
  const text = Buffer.isBuffer(body) ? body.toString("utf8") : typeof body === "string" ? body : JSON.stringify(body);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw badRequest(`couldn't get version/kind; json parse error: ${msg}`);
  }
}

function ctxOf(q: Query, user: UserInfo): RequestCtx {
  const dry = q.dryRun;
  if (dry !== undefined && dry !== "All" && dry !== "")
    throw badRequest(`Invalid dry run value: ${dry}: supported values: "All"`);
  const fv = q.fieldValidation;
  if (fv !== undefined && !["Strict", "Warn", "Ignore", ""].includes(fv)) {
    throw badRequest(`invalid fieldValidation directive: ${fv}: supported values are Ignore, Warn, Strict`);
  }
  return { user, dryRun: dry === "All", fieldManager: q.fieldManager, fieldValidation: fv === "" ? undefined : fv };
}

function* listChunks(def: ResourceDef, items: KObject[], meta: Record<string, unknown>): Generator<string> {
  yield `{"kind":"${def.listKind}","apiVersion":"${apiVersionOf(def)}","metadata":${JSON.stringify(meta)},"items":[`;
  const step = 500;
  for (let i = 0; i < items.length; i += step) {
    yield (
      (i > 0 ? "," : "") +
      items
        .slice(i, i + step)
        .map(objectJson)
        .join(",")
    );
  }
  yield "]}";
}

/** DeleteOptions from the body, with the query parameters kubectl may use instead. */
function deleteOptionsOf(q: Query, body: Record<string, unknown>): DeleteOptions & { dryRun: boolean } {
  const graceRaw = q.gracePeriodSeconds ?? body.gracePeriodSeconds;
  const gracePeriodSeconds = graceRaw === undefined || graceRaw === null ? undefined : Number(graceRaw);
  if (gracePeriodSeconds !== undefined && !Number.isInteger(gracePeriodSeconds)) {
    throw badRequest(`gracePeriodSeconds: Invalid value: ${JSON.stringify(graceRaw)}: must be an integer`);
  }
  return {
    propagationPolicy: (q.propagationPolicy ?? body.propagationPolicy) as DeleteOptions["propagationPolicy"],
    preconditions: isRecord(body.preconditions) ? body.preconditions : undefined,
    gracePeriodSeconds,
    dryRun: Array.isArray(body.dryRun) && (body.dryRun as unknown[]).includes("All"),
  };
}

function asList(def: ResourceDef, items: KObject[], meta: Record<string, unknown>): Record<string, unknown> {
  return { kind: def.listKind, apiVersion: apiVersionOf(def), metadata: meta, items };
}

export function buildHttpApp(api: KubeApi, opts: HttpOptions): { app: FastifyInstance; closeWatches: () => void } {
  const app = Fastify({
    https: opts.https,
    bodyLimit: MAX_BODY_BYTES,
    logger: false,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });
  const watches = new Set<() => void>();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = err as { code?: string; statusCode?: number };
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || e.statusCode === 413)
      return sendError(reply, tooLarge(MAX_BODY_BYTES));
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500 && !(err instanceof ApiError)) {
      return sendError(
        reply,
        new ApiError(e.statusCode, "BadRequest", err instanceof Error ? err.message : String(err)),
      );
    }
    return sendError(reply, err);
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, pathNotFound()));

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const url = new URL(req.url, "https://localhost");
    const q: Query = Object.fromEntries(url.searchParams.entries());
    const auth = req.headers.authorization;
    const user = auth?.startsWith("Bearer ") === true ? opts.authenticate(auth.slice(7).trim()) : undefined;
    if (user === undefined && !ADMIN_PATHS_ANONYMOUS.has(url.pathname)) return sendError(reply, unauthorized());
    const r = route(api.registry, url.pathname);
    if (r.kind === "other") return other(r.path, reply);
    if (r.kind !== "resource" && req.method !== "GET") throw methodNotAllowed();
    if (r.kind === "group") return apiGroup(api.registry, r.group) ?? sendError(reply, pathNotFound());
    if (r.kind === "groupVersion")
      return apiResourceList(api.registry, r.group, r.version) ?? sendError(reply, pathNotFound());
    return resource(r.req, req, reply, q, user!);
  };

  const other = (path: string, reply: FastifyReply): unknown => {
    if (path === "/version") return versionInfo();
    if (path === "/healthz" || path === "/livez" || path === "/readyz") return reply.type("text/plain").send("ok");
    if (path === "/api") return apiVersions(opts.serverAddress());
    if (path === "/apis") return apiGroupList(api.registry);
    if (path === "/openapi/v3") return openapiIndex(api.registry);
    if (path === "/openid/v1/jwks") return opts.jwks();
    if (path === "/.well-known/openid-configuration") {
      return {
        issuer: opts.issuer,
        jwks_uri: `${opts.serverAddress()}/openid/v1/jwks`,
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
      };
    }
    const m = /^\/openapi\/v3\/(api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (m !== null) {
      const doc =
        m[2] !== undefined ? openapiDocument(api.registry, "", m[2]) : openapiDocument(api.registry, m[3]!, m[4]!);
      if (doc !== undefined) return doc;
    }
    return sendError(reply, pathNotFound());
  };

  const respondObject = (
    reply: FastifyReply,
    req: FastifyRequest,
    def: ResourceDef,
    o: KObject,
    code = 200,
  ): unknown => {
    if (wantsTable(req.headers.accept))
      return reply.code(code).send(toTable(def, [o], { resourceVersion: o.metadata.resourceVersion }));
    return reply.code(code).send(o);
  };

  const addWarnings = (reply: FastifyReply, warnings: string[]): void => {
    const unique = [...new Set(warnings)];
    if (unique.length > 0) void reply.header("warning", unique.map(warningHeader));
  };

  const resource = async (
    rr: ResourceRequest,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
    user: UserInfo,
  ): Promise<unknown> => {
    const { def } = rr;
    const ns = rr.namespace ?? "";
    if (def.namespaced && rr.namespace === undefined && (rr.name !== undefined || req.method === "POST"))
      throw pathNotFound();
    switch (req.method) {
      case "GET":
        if (rr.name === undefined)
          return q.watch === "true" || q.watch === "1"
            ? watch(def, rr.namespace, req, reply, q)
            : list(def, rr.namespace, req, reply, q);
        if (def.createOnly === true) throw methodNotAllowed();
        if (rr.subresource === "scale") return scale(rr, req, q, user);
        return respondObject(reply, req, def, api.get(def, ns, rr.name));
      case "POST":
        return post(rr, req, reply, q, user);
      case "PUT":
      case "PATCH":
        return write(rr, req, reply, q, user);
      case "DELETE":
        return del(rr, req, reply, q, user);
      default:
        throw methodNotAllowed();
    }
  };

  /** `scale`: read as an autoscaling/v1 Scale, written as a patch of the main object's spec.replicas. */
  const scale = async (rr: ResourceRequest, req: FastifyRequest, q: Query, user: UserInfo): Promise<unknown> => {
    const { def } = rr;
    const ns = rr.namespace ?? "";
    const current = api.get(def, ns, rr.name!);
    if (req.method === "GET") return toScale(current);
    const body = parseBody(req);
    const next =
      req.method === "PUT" ? body : applyPatchOfType(req.headers["content-type"] ?? "", toScale(current), body, true);
    const replicas = replicasOf(next);
    if (typeof replicas === "string") throw badRequest(replicas);
    const rv = isRecord(next) && isRecord(next.metadata) ? next.metadata.resourceVersion : undefined;
    const patch = { metadata: typeof rv === "string" && rv !== "" ? { resourceVersion: rv } : {}, spec: { replicas } };
    const out = await api.patch(def, ns, rr.name!, "application/merge-patch+json", patch, ctxOf(q, user), "scale");
    return toScale(out.object);
  };

  const write = async (
    rr: ResourceRequest,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
    user: UserInfo,
  ): Promise<unknown> => {
    const { def } = rr;
    if (rr.name === undefined || def.createOnly === true) throw methodNotAllowed();
    if (rr.subresource === "scale") return scale(rr, req, q, user);
    const ns = rr.namespace ?? "";
    const body = parseBody(req);
    const out =
      req.method === "PUT"
        ? await api.update(def, ns, rr.name, body, ctxOf(q, user), rr.subresource === "finalize" ? "" : rr.subresource)
        : await api.patch(def, ns, rr.name, req.headers["content-type"] ?? "", body, ctxOf(q, user), rr.subresource);
    addWarnings(reply, out.warnings);
    return respondObject(reply, req, def, out.object);
  };

  const post = async (
    rr: ResourceRequest,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
    user: UserInfo,
  ): Promise<unknown> => {
    const { def } = rr;
    const ns = rr.namespace ?? "";
    const ctx = ctxOf(q, user);
    const body = parseBody(req);
    if (resourceKey(def) === "tokenreviews.authentication.k8s.io")
      return reply.code(201).send(opts.tokens.review(body));
    if (def.group === "authorization.k8s.io") {
      // RBAC is not emulated: every authenticated caller may do everything.
      return reply.code(201).send({
        ...(isRecord(body) ? body : {}),
        apiVersion: apiVersionOf(def),
        kind: def.kind,
        status: { allowed: true, reason: "the podid playground does not emulate RBAC" },
      });
    }
    if (rr.name !== undefined && rr.subresource === "token" && resourceKey(def) === "serviceaccounts")
      return reply.code(201).send(opts.tokens.request(ns, rr.name, body, ctx));
    if (rr.name !== undefined && rr.subresource === "binding") {
      const target = isRecord(body) && isRecord(body.target) ? body.target.name : undefined;
      if (typeof target !== "string" || target === "") throw badRequest("target.name: Required value");
      await bind(api, def, api.get(def, ns, rr.name), target, ctx);
      return reply.code(201).send(successStatus());
    }
    if (rr.name !== undefined) throw methodNotAllowed();
    const out = await api.create(def, ns, body, ctx);
    addWarnings(reply, out.warnings);
    return respondObject(reply, req, def, out.object, 201);
  };

  const del = async (
    rr: ResourceRequest,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
    user: UserInfo,
  ): Promise<unknown> => {
    const { def } = rr;
    const ns = rr.namespace ?? "";
    const body = parseBody(req);
    const opts = isRecord(body) ? body : {};
    const { propagationPolicy, preconditions, gracePeriodSeconds, dryRun } = deleteOptionsOf(q, opts);
    const ctx = { ...ctxOf(q, user), dryRun: ctxOf(q, user).dryRun === true || dryRun };
    if (rr.name === undefined) {
      if (def.createOnly === true || !def.verbs.includes("deletecollection")) throw methodNotAllowed();
      const { items } = api.list(def, rr.namespace, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
      const deleted: KObject[] = [];
      for (const o of items) {
        try {
          deleted.push(
            (await api.delete(def, o.metadata.namespace ?? "", o.metadata.name!, { propagationPolicy }, ctx)).object,
          );
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        }
      }
      return asList(def, deleted, { resourceVersion: String(api.store.currentRv()) });
    }
    const out = await api.delete(def, ns, rr.name, { propagationPolicy, preconditions, gracePeriodSeconds }, ctx);
    addWarnings(reply, out.warnings);
    // 200 with the object, also when finalizers keep it (the apiserver answers 202 only for the
    // deprecated orphanDependents=false).
    const accepted =
      opts.orphanDependents === false && api.store.get(def, ns, rr.name)?.metadata.uid === out.object.metadata.uid;
    return reply.code(accepted ? 202 : 200).send(out.object);
  };

  const list = (
    def: ResourceDef,
    ns: string | undefined,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
  ): unknown => {
    if (def.createOnly === true) throw methodNotAllowed();
    const limit = q.limit !== undefined ? Number(q.limit) : undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
      throw badRequest(`limit: Invalid value: "${q.limit}": must be a non-negative integer`);
    const res = api.list(def, ns, {
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
      limit,
      continue: q.continue,
    });
    const meta: Record<string, unknown> = { resourceVersion: res.resourceVersion };
    if (res.continue !== undefined)
      Object.assign(meta, { continue: res.continue, remainingItemCount: res.remainingItemCount });
    if (wantsTable(req.headers.accept))
      return reply.send(toTable(def, res.items, meta, Date.now(), q.includeObject !== "None"));
    // Lists can be large (the benchmarks list 150,000 pods): stream them from the per-version JSON cache.
    return reply.type("application/json").send(Readable.from(listChunks(def, res.items, meta)));
  };

  const watch = (
    def: ResourceDef,
    ns: string | undefined,
    req: FastifyRequest,
    reply: FastifyReply,
    q: Query,
  ): void => {
    if (def.createOnly === true) throw methodNotAllowed();
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector, resourceKey(def));
    const rvParam = q.resourceVersion ?? "";
    const from = rvParam === "" || rvParam === "0" ? undefined : Number(rvParam);
    if (from !== undefined && !Number.isFinite(from))
      throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a number`);
    const timeoutSeconds = q.timeoutSeconds !== undefined ? Number(q.timeoutSeconds) : 1800;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
      "transfer-encoding": "chunked",
    });
    res.flushHeaders();
    const write = (s: string): void => {
      if (!res.writableEnded && !res.destroyed) res.write(s);
    };
    const bookmarks = q.allowWatchBookmarks === "true";
    // `kubectl get -w` watches Tables: one row per event, column definitions on the first only.
    const tables = wantsTable(req.headers.accept);
    let firstTable = true;
    const tableEvent = (type: EventType, object: KObject): string => {
      const t = toTable(
        def,
        [object],
        { resourceVersion: object.metadata.resourceVersion },
        Date.now(),
        q.includeObject !== "None",
      );
      if (!firstTable) t.columnDefinitions = [];
      firstTable = false;
      return JSON.stringify({ type, object: t }) + "\n";
    };
    const sendBookmark = (): void => {
      const rv = String(api.store.currentRv());
      write(
        JSON.stringify({
          type: "BOOKMARK",
          object: { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: rv } },
        }) + "\n",
      );
    };
    const stopper: { stop?: () => void } = {};
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      stopper.stop?.();
      timers.forEach(clearTimeout);
      timers.forEach(clearInterval);
      watches.delete(finish);
      if (!res.writableEnded) res.end();
    };
    watches.add(finish);
    res.on("close", finish);
    const result = api.store.watch(
      def,
      {
        namespace: def.namespaced ? ns : undefined,
        labels,
        fields,
        send: (type: EventType, object: KObject, json: () => string) => {
          write(tables ? tableEvent(type, object) : json());
        },
        close: () => finish(),
      },
      from,
    );
    if ("tooOld" in result) {
      const e = new ApiError(410, "Expired", `too old resource version: ${from} (${result.tooOld})`);
      write(JSON.stringify({ type: "ERROR", object: e.toStatus() }) + "\n");
      finish();
      return;
    }
    stopper.stop = result.stop;
    if (bookmarks) timers.push(setInterval(sendBookmark, opts.bookmarkIntervalMs).unref());
    timers.push(
      setTimeout(
        () => {
          if (bookmarks) sendBookmark();
          finish();
        },
        Math.max(0, timeoutSeconds) * 1000,
      ).unref(),
    );
  };

  app.route({ method: ["GET", "POST", "PUT", "PATCH", "DELETE"], url: "/*", handler });
  app.route({
    method: ["GET"],
    url: "/",
    handler: () => ({ paths: ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"] }),
  });
  return {
    app,
    closeWatches: () => {
      for (const f of [...watches]) f();
    },
  };
}
