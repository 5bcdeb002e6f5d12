// The NMI's HTTP edge: an unstarted Fastify app serving the IMDS token contract. Each piece
// does one thing: identify.ts says who is calling, decisions.ts what they may have (the rules
// are pure functions in serving.ts and caller.ts), replies.ts answers and counts; the routes
// below only parse and carry the decision out. One app serves pods by address (the plain
// listener), another sidecars by their pod's token (the TLS listener): `listener` picks.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { DEFAULTS, PATHS } from "../model/constants.ts";
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import { silentLogger, type Logger } from "../shared/log.ts";
import type { ReviewedToken } from "./caller.ts";
import { createDecider, type Decider } from "./decisions.ts";
import { createIdentifier, type Identifier } from "./identify.ts";
import { errorBody, forbidden, imdsError, parseTokenRequest } from "./imds.ts";
import { createNmiMetrics, type NmiMetrics } from "./metrics.ts";
import { createReplies, type Replies } from "./replies.ts";
import type { ImdsResponse } from "./token-sources.ts";
import { UpstreamError } from "./token-sources.ts";
import type { TokenProvider } from "./tokens.ts";
import { vouchedIdentifier, type NmiView } from "./view.ts";

export interface NmiAppDeps {
  nodeName: string;
  view: NmiView;
  admissionKeys: () => AdmissionKeys;
  tokens: TokenProvider;
  /** The node's IMDS, for excepted pods and explicitly allowed paths. */
  imds: { get(pathAndQuery: string, kind: "token" | "proxy"): Promise<ImdsResponse> };
  /** TokenReview of a sidecar-presented pod token; absent = sidecar tokens are refused. */
  reviewToken?: (token: string) => Promise<ReviewedToken>;
  /** pods (default): callers identified by address; sidecars: by the pod token a sidecar presents (serve over TLS). */
  listener?: "pods" | "sidecars";
  /** TLS for the sidecar listener. */
  https?: { cert: string | Buffer; key: string | Buffer };
  sidecarAudience?: string;
  /** Paths other than the token path that are proxied to IMDS for pods of this node. */
  proxyPaths?: string[];
  /** How long a request waits for an assignment in progress before a 503. */
  assignmentWaitMs?: number;
  retryAfterSeconds?: number;
  metrics?: NmiMetrics;
  /** Whether every watch behind the view is connected; a token served otherwise is counted as stale. */
  watchesHealthy?: () => boolean;
  logger?: Logger;
  now?: () => number;
}

interface RouteContext {
  deps: NmiAppDeps;
  replies: Replies;
  identify: Identifier;
  decider: Decider;
  metrics: NmiMetrics;
  log: Logger;
}

const callerOf = (req: FastifyRequest) => ({ headers: req.headers, remoteAddress: req.socket.remoteAddress });
const internalError = () => imdsError(500, "internal_error", "The NMI could not answer this request; see its log");

/** GET on the token path: parse, identify, decide (waiting for an assignment in progress), serve. */
async function answerToken(ctx: RouteContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const started = process.hrtime.bigint();
  const parsed = parseTokenRequest(req.query as Record<string, string>, req.headers);
  if (!parsed.ok) return ctx.replies.error(reply, started, parsed.error, { source: req.socket.remoteAddress });
  let podRef: string | undefined;
  try {
    const caller = await ctx.identify(callerOf(req));
    if (!caller.ok) return ctx.replies.error(reply, started, caller.error, { source: req.socket.remoteAddress });
    podRef = `${caller.pod.namespace}/${caller.pod.name}`;
    const d = await ctx.decider.decideWaiting(caller.pod, parsed.value.identity);
    if (d.kind === "refuse" || d.kind === "wait") return ctx.replies.error(reply, started, d.error, { pod: podRef });
    if (d.kind === "proxy") {
      // IMDS's own spelling of the path (the SDK adds a trailing slash for custom hosts).
      const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
      return ctx.replies.proxied(reply, started, await ctx.deps.imds.get(PATHS.imdsToken + query, "proxy"));
    }
    // The assignment says how the reconciler prepared this pod's identity: node IMDS or federation.
    const { token } = await ctx.deps.tokens.getToken(
      d.identity,
      parsed.value.resource,
      d.assignment.status?.tokenSource ?? "NodeAssigned",
    );
    if (ctx.deps.watchesHealthy?.() === false) ctx.metrics.staleTokens.inc();
    ctx.log.debug({ pod: podRef, identity: d.identity.metadata.name, resource: parsed.value.resource }, "token served");
    return ctx.replies.token(reply, started, token);
  } catch (err) {
    if (err instanceof UpstreamError) return ctx.replies.error(reply, started, err.imds, { pod: podRef });
    ctx.log.error({ pod: podRef, err: err instanceof Error ? err.message : String(err) }, "token request failed");
    return ctx.replies.error(reply, started, internalError(), { pod: podRef });
  }
}

/** Other IMDS paths: refused unless listed with --proxy-path, then passed on for pods of this node. */
async function answerProxyPath(ctx: RouteContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const started = process.hrtime.bigint();
  const path = req.url.split("?")[0] ?? "";
  const allowed = (ctx.deps.proxyPaths ?? []).some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`));
  if (!allowed)
    return ctx.replies.error(
      reply,
      started,
      forbidden(`podid's NMI does not serve ${path}; only the identity token endpoint is served`),
    );
  const caller = await ctx.identify(callerOf(req));
  if (!caller.ok) return ctx.replies.error(reply, started, caller.error);
  try {
    return ctx.replies.proxied(reply, started, await ctx.deps.imds.get(req.url, "proxy"));
  } catch (err) {
    if (err instanceof UpstreamError) return ctx.replies.error(reply, started, err.imds);
    throw err;
  }
}

function registerImdsRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(PATHS.imdsToken, (req, reply) => answerToken(ctx, req, reply));
  app.post(PATHS.imdsToken, async (_req, reply) =>
    ctx.replies.error(reply, process.hrtime.bigint(), imdsError(405, "invalid_request", "Use GET for token requests")),
  );
  app.get("/metadata/*", (req, reply) => answerProxyPath(ctx, req, reply));
}

function registerProbes(app: FastifyInstance, view: NmiView, metrics: NmiMetrics): void {
  app.get("/healthz", (_req, reply) => reply.send({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    if (!view.synced()) return reply.code(503).send({ status: "caches not synced" });
    if (!view.watching()) return reply.code(503).send({ status: "a watch is broken; pods are re-read per request" });
    return { status: "ready" };
  });
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}

function registerFallbacks(app: FastifyInstance, log: Logger): void {
  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .send(errorBody(imdsError(404, "not_found", `No such endpoint: ${req.method} ${req.url.split("?")[0]}`))),
  );
  app.setErrorHandler(async (err, _req, reply) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, "unhandled error");
    return reply.code(500).send(errorBody(internalError()));
  });
}

function newFastify(https: NmiAppDeps["https"]): FastifyInstance {
  const opts = {
    logger: false,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: false,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
  };
  return https !== undefined ? Fastify({ ...opts, https }) : Fastify(opts);
}

export function buildNmiApp(deps: NmiAppDeps): FastifyInstance {
  const log = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? createNmiMetrics();
  const app = newFastify(deps.https);
  const decider = createDecider({
    nodeName: deps.nodeName,
    view: deps.view,
    admissionKeys: deps.admissionKeys,
    retryAfterSeconds: deps.retryAfterSeconds ?? 5,
    waitMs: deps.assignmentWaitMs ?? 20_000,
  });
  app.addHook("onClose", (_app, done) => {
    decider.close();
    done();
  });
  const identifyCaller = createIdentifier({
    nodeName: deps.nodeName,
    view: deps.view,
    ...(deps.reviewToken !== undefined ? { reviewToken: deps.reviewToken } : {}),
    audience: deps.sidecarAudience ?? DEFAULTS.sidecarTokenAudience,
    listener: deps.listener ?? "pods",
    log,
    nowMs: Date.now,
  });
  // Fresh or nothing (view.ts): no caller is identified on what a broken watch still holds.
  const identify = vouchedIdentifier(deps.view, identifyCaller, deps.retryAfterSeconds ?? 5);
  const replies = createReplies(metrics, log, deps.now ?? (() => Date.now() / 1000));
  registerImdsRoutes(app, { deps, replies, identify, decider, metrics, log });
  registerProbes(app, deps.view, metrics);
  registerFallbacks(app, log);
  return app;
}
