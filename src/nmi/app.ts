// The NMI's HTTP edge: an unstarted Fastify app serving the IMDS token contract. The route
// only parses, identifies the caller, gathers the decision's input, and carries out the
// decision; the rules themselves are pure functions in imds.ts, caller.ts and serving.ts.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { DEFAULTS, NMI_MODE_ANNOTATION, PATHS, SIDECAR } from "../model/constants.ts";
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import { silentLogger, type Logger } from "../shared/log.ts";
import { identifyByIp, identifyByToken, type CallerResult, type ReviewedToken } from "./caller.ts";
import {
  errorBody,
  forbidden,
  imdsError,
  parseTokenRequest,
  tokenBody,
  type IdentityRequest,
  type ImdsError,
} from "./imds.ts";
import { createNmiMetrics, type NmiMetrics } from "./metrics.ts";
import type { NmiPod } from "./pod.ts";
import { decideServing, type ServingDecision } from "./serving.ts";
import type { ImdsResponse } from "./token-sources.ts";
import { UpstreamError } from "./token-sources.ts";
import type { TokenProvider } from "./tokens.ts";
import { gatherServingInput, type NmiView } from "./view.ts";

export interface NmiAppDeps {
  nodeName: string;
  view: NmiView;
  admissionKeys: () => AdmissionKeys;
  tokens: TokenProvider;
  /** The node's IMDS, for excepted pods and explicitly allowed paths. */
  imds: { get(pathAndQuery: string, kind: "token" | "proxy"): Promise<ImdsResponse> };
  /** TokenReview of a sidecar-presented pod token; absent = sidecar tokens are refused. */
  reviewToken?: (token: string) => Promise<ReviewedToken>;
  sidecarAudience?: string;
  /** Paths other than the token path that are proxied to IMDS for pods of this node. */
  proxyPaths?: string[];
  /** How long a request waits for an assignment in progress before a 503. */
  assignmentWaitMs?: number;
  retryAfterSeconds?: number;
  metrics?: NmiMetrics;
  logger?: Logger;
  now?: () => number;
}

/** Remembered decisions; the map is emptied when full (callers can vary client_id freely). */
const MEMO_MAX = 10_000;

type Result = "token" | "proxied" | "refused" | "unavailable" | "error";

function resultOf(status: number): Result {
  if (status === 503 || status === 429) return "unavailable";
  return status >= 500 ? "error" : "refused";
}

/** 503 while the view cannot vouch for what it holds (src/nmi/kube-view.ts). */
const staleView = (reason: string, retryAfter: number): ImdsError =>
  imdsError(503, "service_unavailable", `The NMI cannot vouch for its view of the cluster now: ${reason}`, retryAfter);

export function buildNmiApp(deps: NmiAppDeps): FastifyInstance {
  const log = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? createNmiMetrics();
  const waitMs = deps.assignmentWaitMs ?? 20_000;
  const retryAfter = deps.retryAfterSeconds ?? 5;
  const audience = deps.sidecarAudience ?? DEFAULTS.sidecarTokenAudience;
  const now = deps.now ?? (() => Date.now() / 1000);
  const proxyPaths = deps.proxyPaths ?? [];

  const app = Fastify({
    logger: false,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: false,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
  });

  const finish = (started: bigint, result: Result, code: number): void => {
    metrics.requests.inc({ result, code: String(code) });
    metrics.latency.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
  };

  const sendError = (
    reply: FastifyReply,
    started: bigint,
    e: ImdsError,
    context: Record<string, unknown> = {},
  ): FastifyReply => {
    finish(started, resultOf(e.status), e.status);
    log.info({ ...context, status: e.status, error: e.error, reason: e.description }, "token request refused");
    if (e.retryAfter !== undefined) void reply.header("retry-after", String(e.retryAfter));
    return reply.code(e.status).send(errorBody(e));
  };

  const sendProxied = (reply: FastifyReply, started: bigint, r: ImdsResponse): FastifyReply => {
    finish(started, "proxied", r.status);
    for (const [k, v] of Object.entries(r.headers)) void reply.header(k, v);
    return reply.code(r.status).send(r.body);
  };

  async function identify(req: FastifyRequest): Promise<CallerResult> {
    // Fresh or nothing: no caller is identified on what a broken watch still holds.
    const vouched = await deps.view.vouch();
    if (!vouched.fresh) return { ok: false, error: staleView(vouched.reason, retryAfter) };
    const token = req.headers[SIDECAR.tokenHeader];
    if (token !== undefined) {
      if (deps.reviewToken === undefined)
        return { ok: false, error: forbidden("This NMI does not accept sidecar tokens") };
      if (typeof token !== "string" || token === "" || token.length > 16_384)
        return { ok: false, error: forbidden("Malformed pod token") };
      let review: ReviewedToken;
      try {
        review = await deps.reviewToken(token);
      } catch (e) {
        // The API server could not say who the pod is: a retryable outage, not a refusal.
        log.warn({ err: e instanceof Error ? e.message : String(e) }, "TokenReview failed");
        return {
          ok: false,
          error: imdsError(
            503,
            "service_unavailable",
            `Could not verify the pod's token with the Kubernetes API: ${e instanceof Error ? e.message : String(e)}`,
            5,
          ),
        };
      }
      const pod = review.podName !== undefined ? podFromReview(review) : [];
      return identifyByToken(pod, review, audience, deps.nodeName);
    }
    const ip = req.socket.remoteAddress ?? "";
    const r = identifyByIp(deps.view.podsWithIp(ip.startsWith("::ffff:") ? ip.slice(7) : ip), ip, deps.nodeName);
    if (r.ok && r.pod.annotations[NMI_MODE_ANNOTATION] === "sidecar") {
      // A sidecar-mode pod is identified by its token only: its address may be spoofed.
      return {
        ok: false,
        error: forbidden(
          `Pod ${r.pod.namespace}/${r.pod.name} uses sidecar mode; ask its sidecar at its loopback address`,
        ),
      };
    }
    return r;
  }

  function podFromReview(review: ReviewedToken): NmiPod[] {
    const ns = /^system:serviceaccount:([^:]+):/.exec(review.username ?? "")?.[1];
    const pod = ns !== undefined && review.podName !== undefined ? deps.view.pod(ns, review.podName) : undefined;
    return pod === undefined ? [] : [pod];
  }

  // Decisions are pure functions of the caches and keys, so they are remembered until either
  // changes: a pod asking again (the common case) costs a map lookup, not an HMAC.
  let generation = 0;
  const offChange = deps.view.onChange(() => generation++);
  app.addHook("onClose", (_app, done) => {
    offChange();
    done();
  });
  const memo = new Map<string, { generation: number; keys: AdmissionKeys; decision: ServingDecision }>();
  function decide(pod: NmiPod, requested: IdentityRequest): ServingDecision {
    const keys = deps.admissionKeys();
    const key = `${pod.namespace}/${pod.name}/${pod.uid}|${requested.by}|${requested.by === "none" ? "" : requested.value}`;
    const hit = memo.get(key);
    if (hit !== undefined && hit.generation === generation && hit.keys === keys) return hit.decision;
    const decision = decideServing(
      gatherServingInput(deps.view, keys, pod, requested, { nodeName: deps.nodeName, retryAfterSeconds: retryAfter }),
    );
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(key, { generation, keys, decision });
    return decision;
  }

  /** Re-decides on every cache change until the decision is no longer "wait" or time is up. */
  async function decideWaiting(pod: NmiPod, requested: IdentityRequest): Promise<ServingDecision> {
    let d = decide(pod, requested);
    const deadline = Date.now() + waitMs;
    while (d.kind === "wait" && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(500, deadline - Date.now()));
        const off = deps.view.onChange(done);
        function done(): void {
          clearTimeout(t);
          off();
          resolve();
        }
      });
      const current = deps.view.pod(pod.namespace, pod.name);
      if (current === undefined || current.uid !== pod.uid)
        return { kind: "refuse", error: forbidden(`Pod ${pod.namespace}/${pod.name} went away while waiting`) };
      d = decide(current, requested);
    }
    return d;
  }

  app.get(PATHS.imdsToken, async (req, reply) => {
    const started = process.hrtime.bigint();
    const parsed = parseTokenRequest(req.query as Record<string, string>, req.headers);
    if (!parsed.ok) return sendError(reply, started, parsed.error, { source: req.socket.remoteAddress });
    let podRef: string | undefined;
    try {
      const caller = await identify(req);
      if (!caller.ok) return sendError(reply, started, caller.error, { source: req.socket.remoteAddress });
      const pod = caller.pod;
      podRef = `${pod.namespace}/${pod.name}`;
      const d = await decideWaiting(pod, parsed.value.identity);
      if (d.kind === "refuse" || d.kind === "wait") return sendError(reply, started, d.error, { pod: podRef });
      if (d.kind === "proxy") {
        // IMDS's own spelling of the path (the SDK adds a trailing slash for custom hosts).
        const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
        return sendProxied(reply, started, await deps.imds.get(PATHS.imdsToken + query, "proxy"));
      }
      const { token } = await deps.tokens.getToken(d.identity, parsed.value.resource);
      finish(started, "token", 200);
      log.debug({ pod: podRef, identity: d.identity.metadata.name, resource: parsed.value.resource }, "token served");
      return reply.code(200).header("content-type", "application/json; charset=utf-8").send(tokenBody(token, now()));
    } catch (err) {
      if (err instanceof UpstreamError) return sendError(reply, started, err.imds, { pod: podRef });
      log.error({ pod: podRef, err: err instanceof Error ? err.message : String(err) }, "token request failed");
      return sendError(
        reply,
        started,
        imdsError(500, "internal_error", "The NMI could not answer this request; see its log"),
        { pod: podRef },
      );
    }
  });

  app.post(PATHS.imdsToken, async (_req, reply) =>
    sendError(reply, process.hrtime.bigint(), imdsError(405, "invalid_request", "Use GET for token requests")),
  );

  app.get("/metadata/*", async (req, reply) => {
    const started = process.hrtime.bigint();
    const path = req.url.split("?")[0] ?? "";
    if (!proxyPaths.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`))) {
      return sendError(
        reply,
        started,
        forbidden(`podid's NMI does not serve ${path}; only the identity token endpoint is served`),
      );
    }
    const caller = await identify(req);
    if (!caller.ok) return sendError(reply, started, caller.error);
    try {
      return sendProxied(reply, started, await deps.imds.get(req.url, "proxy"));
    } catch (err) {
      if (err instanceof UpstreamError) return sendError(reply, started, err.imds);
      throw err;
    }
  });

  app.get("/healthz", (_req, reply) => reply.send({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    if (!deps.view.synced()) return reply.code(503).send({ status: "caches not synced" });
    if (!deps.view.watching())
      return reply.code(503).send({ status: "a watch is broken; pods are re-read per request" });
    return { status: "ready" };
  });
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .send(errorBody(imdsError(404, "not_found", `No such endpoint: ${req.method} ${req.url.split("?")[0]}`))),
  );
  app.setErrorHandler(async (err, _req, reply) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, "unhandled error");
    return reply
      .code(500)
      .send(errorBody(imdsError(500, "internal_error", "The NMI could not answer this request; see its log")));
  });
  return app;
}
