// Sidecar mode: a tiny forwarder on the pod's loopback. The application's SDK asks it as it
// would ask IMDS; it adds the pod's projected service-account token and forwards to the
// node's NMI, which reviews the token and decides. It holds no identity and decides nothing.
import { readFile, stat } from "node:fs/promises";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { SIDECAR } from "../model/constants.ts";
import { errorBody, imdsError } from "./imds.ts";
import { createSidecarMetrics, type SidecarMetrics } from "./metrics.ts";

export interface SidecarDeps {
  /** The node NMI's base URL, e.g. http://10.240.0.4:2579. */
  nodeEndpoint: string;
  /** Reads the pod's current token (the kubelet rotates the file). */
  readToken: () => Promise<string>;
  timeoutMs?: number;
  metrics?: SidecarMetrics;
}

/** Reads the projected token, re-reading only when the file changed. */
export function fileTokenReader(path: string): () => Promise<string> {
  let cached: { mtimeMs: number; token: string } | undefined;
  return async () => {
    const s = await stat(path);
    if (cached === undefined || cached.mtimeMs !== s.mtimeMs)
      cached = { mtimeMs: s.mtimeMs, token: (await readFile(path, "utf8")).trim() };
    return cached.token;
  };
}

const PASS_REQUEST_HEADERS = ["metadata", "x-forwarded-for", "x-ms-client-request-id"];
const PASS_RESPONSE_HEADERS = ["content-type", "retry-after"];

export function buildSidecarApp(deps: SidecarDeps): FastifyInstance {
  const app = Fastify({ logger: false, trustProxy: false });
  const base = deps.nodeEndpoint.replace(/\/$/, "");
  const metrics = deps.metrics ?? createSidecarMetrics();
  // The route's own failures, so the metric tells them from the node NMI's answers (forwarded).
  const failures = new WeakMap<FastifyRequest, "token_unreadable" | "node_unreachable">();
  app.addHook("onResponse", async (req, reply) => {
    if (!req.url.startsWith("/metadata/")) return;
    const result = failures.get(req) ?? "forwarded";
    metrics.requests.inc({ result, code: String(reply.statusCode) });
    metrics.latency.observe({ result }, reply.elapsedTime / 1000);
  });
  app.get("/healthz", (_req, reply) => reply.send({ status: "ok" }));
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get("/metadata/*", async (req, reply) => {
    let token: string;
    try {
      token = await deps.readToken();
    } catch (err) {
      failures.set(req, "token_unreadable");
      return reply
        .code(500)
        .send(
          errorBody(
            imdsError(
              500,
              "internal_error",
              `The sidecar cannot read the pod's token: ${err instanceof Error ? err.message : String(err)}`,
            ),
          ),
        );
    }
    const headers: Record<string, string> = { [SIDECAR.tokenHeader]: token };
    for (const h of PASS_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === "string") headers[h] = v;
    }
    try {
      const res = await fetch(base + req.url, { headers, signal: AbortSignal.timeout(deps.timeoutMs ?? 60_000) });
      for (const h of PASS_RESPONSE_HEADERS) {
        const v = res.headers.get(h);
        if (v !== null) void reply.header(h, v);
      }
      return reply.code(res.status).send(await res.text());
    } catch (err) {
      failures.set(req, "node_unreachable");
      return reply
        .code(502)
        .send(
          errorBody(
            imdsError(
              502,
              "upstream_unreachable",
              `The node's NMI at ${base} did not answer: ${err instanceof Error ? err.message : String(err)}`,
            ),
          ),
        );
    }
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .send(errorBody(imdsError(404, "not_found", `No such endpoint: ${req.method} ${req.url.split("?")[0]}`))),
  );
  return app;
}
