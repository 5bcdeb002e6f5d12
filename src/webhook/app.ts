// The webhook's Fastify app, unstarted: tests use app.inject(), main listens over HTTPS. The
// HTTP edge (body limit, content type, JSON, AdmissionReview v1 envelope) is here; decisions
// are in the handlers, which never throw into Fastify.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Logger } from "pino";
import { GROUP, KINDS, LIMITS, PATHS } from "../model/constants.ts";
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import type { Handler, HandlerContext, Outcome } from "./context.ts";
import { createMetrics, routeMetrics, type WebhookMetrics } from "./metrics.ts";
import type { NmiTls } from "./mutate.ts";
import { mutatePodHandler, validatePodHandler } from "./pods.ts";
import { validateResourceHandler } from "./resources.ts";
import { allowed, errored, reviewOf } from "./responses.ts";
import { decodeReview, type GroupVersionKind } from "./review.ts";
import type { WebhookState } from "./state.ts";
import { judgesWorkload, validateWorkloadHandler } from "./workloads.ts";

export interface WebhookAppOptions {
  state: WebhookState;
  /** Admission-mark keys; a function so a reloaded key file takes effect at once. */
  keys: () => AdmissionKeys | undefined;
  logger: Logger;
  sidecarImage: string;
  /** The node NMI's CA and certificate name, for injected sidecars (a function: the CA file may be reloaded). */
  nmiTls?: () => NmiTls | undefined;
  metrics?: WebhookMetrics;
  /** TLS for the server (main passes it; tests with inject need none). */
  https?: { cert: string | Buffer; key: string | Buffer };
}

const isPod = (k: GroupVersionKind): boolean => k.group === "" && k.kind === "Pod";
const RESOURCE_KINDS: readonly string[] = [
  KINDS.AzureIdentity.kind,
  KINDS.AzureIdentityBinding.kind,
  KINDS.AzurePodIdentityPolicy.kind,
  KINDS.AzurePodIdentityException.kind,
];
const isJudgedResource = (k: GroupVersionKind): boolean => k.group === GROUP && RESOURCE_KINDS.includes(k.kind);

/** Each route, its handler, and the kinds it judges. */
const ROUTES: Array<[string, Handler, (k: GroupVersionKind) => boolean]> = [
  [PATHS.webhookMutatePods, mutatePodHandler, isPod],
  [PATHS.webhookValidatePods, validatePodHandler, isPod],
  [PATHS.webhookValidateResources, validateResourceHandler, isJudgedResource],
  [PATHS.webhookValidateWorkloads, validateWorkloadHandler, judgesWorkload],
];

class BadBody extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (e) {
    throw new BadBody(`request body is not JSON: ${(e as Error).message}`);
  }
}

function answer(
  [route, handler, judges]: (typeof ROUTES)[number],
  body: unknown,
  ctx: HandlerContext,
): { status: number; payload: unknown; outcome?: Outcome } {
  const d = decodeReview(body);
  if (!d.ok) return { status: 400, payload: { error: "Bad Request", message: d.message } };
  const { request } = d;
  let outcome: Outcome;
  if (!judges(request.kind)) {
    // A webhook configuration broader than this route (all kinds of a group, say) must not make
    // podid block what it does not judge, least of all what podid itself writes: allowed, logged.
    ctx.log.info({ route, kind: request.kind, uid: request.uid }, "allowed a kind this route does not judge");
    outcome = { response: allowed(request.uid), result: "allowed", reason: "kind-not-judged" };
  } else
    try {
      outcome = handler(request, ctx);
    } catch (e) {
      ctx.log.error({ err: e, route, uid: request.uid }, "admission handler failed");
      outcome = {
        response: errored(request.uid, 500, `podid webhook internal error: ${(e as Error).message}`),
        result: "errored",
        reason: "exception",
      };
    }
  return { status: 200, payload: reviewOf(outcome.response), outcome };
}

export function buildWebhookApp(opts: WebhookAppOptions): FastifyInstance {
  const metrics = opts.metrics ?? createMetrics();
  const fastifyOpts: FastifyServerOptions & { https?: { cert: string | Buffer; key: string | Buffer } } = {
    logger: false,
    bodyLimit: LIMITS.admissionBodyBytes,
    // The apiserver keeps connections alive; keep ours open a little longer than its idle timeout.
    keepAliveTimeout: 75_000,
    ...(opts.https !== undefined ? { https: opts.https } : {}),
  };
  const app = Fastify(fastifyOpts) as unknown as FastifyInstance;
  const ctx: HandlerContext = {
    state: opts.state,
    keys: opts.keys,
    sidecarImage: opts.sidecarImage,
    nmiTls: opts.nmiTls ?? (() => undefined),
    log: opts.logger,
  };

  // One parser for every content type: the apiserver sends application/json, and anything
  // else gets the same clear 400 as broken JSON.
  app.removeAllContentTypeParsers();
  const parser = (_req: unknown, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void => {
    try {
      done(null, parseJson(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  };
  // application/json gets its own entry: Fastify's catch-all path is markedly slower.
  app.addContentTypeParser("application/json", { parseAs: "string" }, parser);
  app.addContentTypeParser("*", { parseAs: "string" }, parser);
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, req, reply) => {
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const message =
      error.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? `request body is larger than ${LIMITS.admissionBodyBytes} bytes`
        : error.message;
    metrics.badRequests.inc({ route: req.routeOptions.url ?? "unknown", status: String(status) });
    if (status === 500) opts.logger.error({ err: error, url: req.url }, "request failed");
    void reply.code(status).send({
      error: status === 413 ? "Payload Too Large" : status === 500 ? "Internal Server Error" : "Bad Request",
      message,
    });
  });

  for (const route of ROUTES) {
    const [path] = route;
    const record = routeMetrics(metrics, path);
    app.post(path, (req, reply) => {
      const end = record.startTimer();
      const { status, payload, outcome } = answer(route, req.body, ctx);
      end();
      if (outcome !== undefined) record.admitted(outcome.result, outcome.reason);
      else metrics.badRequests.inc({ route: path, status: String(status) });
      void reply.code(status).send(payload);
    });
  }
  app.get("/healthz", (_req, reply) => void reply.send("ok"));
  app.get("/readyz", (_req, reply) => {
    const ready = opts.state.synced();
    void reply.code(ready ? 200 : 503).send(ready ? "ok" : "caches not synced yet");
  });
  app.get("/metrics", async (_req, reply) => {
    void reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}
