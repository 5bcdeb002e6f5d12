// Sidecar mode: a tiny forwarder on the pod's loopback. The application's SDK asks it as it
// would ask IMDS; it adds the pod's projected service-account token and forwards to the node's
// NMI, which reviews the token and decides. It holds no identity and decides nothing. It trusts
// no network: it speaks only TLS to the node NMI and checks the NMI's certificate against the CA
// the webhook gave it, for the NMI's name (it reaches the NMI by the node's IP), so an address
// spoofed on the node network gets neither the token nor a chance to answer for the NMI.
import { readFile, stat } from "node:fs/promises";
import { isIP } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Agent, request } from "undici";
import { SIDECAR } from "../model/constants.ts";
import { errorBody, imdsError } from "./imds.ts";
import { createSidecarMetrics, type SidecarMetrics } from "./metrics.ts";

export interface SidecarDeps {
  /** The node NMI's sidecar URL, e.g. https://10.240.0.4:2578 (https only). */
  nodeEndpoint: string;
  /** PEM: the CA the node NMI's certificate must chain to. */
  caPem: string;
  /** The name the node NMI's certificate must carry (default: the endpoint's host). */
  serverName?: string;
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
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A TLS agent that trusts only `caPem` and checks the certificate for `serverName`. */
function verifyingAgent(deps: SidecarDeps): Agent {
  const url = new URL(deps.nodeEndpoint);
  if (url.protocol !== "https:")
    throw new Error(
      `the node NMI's endpoint must be https (the sidecar never sends the pod's token in clear), got ${deps.nodeEndpoint}`,
    );
  // SNI carries names only (RFC 6066): for an address, the certificate is checked against its IP entries.
  const servername = deps.serverName ?? (isIP(url.hostname) === 0 ? url.hostname : undefined);
  return new Agent({
    connect: { ca: deps.caPem, ...(servername !== undefined ? { servername } : {}), rejectUnauthorized: true },
  });
}

const fail = (reply: FastifyReply, status: number, code: string, message: string): FastifyReply =>
  reply.code(status).send(errorBody(imdsError(status, code, message)));

export function buildSidecarApp(deps: SidecarDeps): FastifyInstance {
  const agent = verifyingAgent(deps);
  const app = Fastify({ logger: false, trustProxy: false });
  const base = deps.nodeEndpoint.replace(/\/$/, "");
  app.addHook("onClose", async () => agent.close());
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
      return fail(reply, 500, "internal_error", `The sidecar cannot read the pod's token: ${errText(err)}`);
    }
    const headers: Record<string, string> = { [SIDECAR.tokenHeader]: token };
    for (const h of PASS_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === "string") headers[h] = v;
    }
    try {
      const res = await request(base + req.url, {
        dispatcher: agent,
        headers,
        signal: AbortSignal.timeout(deps.timeoutMs ?? 60_000),
      });
      for (const h of PASS_RESPONSE_HEADERS) {
        const v = res.headers[h];
        if (typeof v === "string") void reply.header(h, v);
      }
      return reply.code(res.statusCode).send(await res.body.text());
    } catch (err) {
      failures.set(req, "node_unreachable");
      return fail(
        reply,
        502,
        "upstream_unreachable",
        `The node's NMI at ${base} did not answer over TLS: ${errText(err)}`,
      );
    }
  });
  app.setNotFoundHandler(async (req, reply) =>
    fail(reply, 404, "not_found", `No such endpoint: ${req.method} ${req.url.split("?")[0]}`),
  );
  return app;
}
