// How the NMI answers, in one place: every answer is counted by result and code and timed;
// refusals are logged with their reason (never a token) and carry IMDS's error shape.
import type { FastifyReply } from "fastify";
import type { Logger } from "../shared/log.ts";
import { errorBody, tokenBody, type ImdsError, type Token } from "./imds.ts";
import type { NmiMetrics } from "./metrics.ts";
import type { ImdsResponse } from "./token-sources.ts";

export type Result = "token" | "proxied" | "refused" | "unavailable" | "error";

function resultOf(status: number): Result {
  if (status === 503 || status === 429) return "unavailable";
  return status >= 500 ? "error" : "refused";
}

export interface Replies {
  error(reply: FastifyReply, started: bigint, e: ImdsError, context?: Record<string, unknown>): FastifyReply;
  proxied(reply: FastifyReply, started: bigint, r: ImdsResponse): FastifyReply;
  token(reply: FastifyReply, started: bigint, token: Token): FastifyReply;
}

export function createReplies(metrics: NmiMetrics, log: Logger, now: () => number): Replies {
  const finish = (started: bigint, result: Result, code: number): void => {
    metrics.requests.inc({ result, code: String(code) });
    metrics.latency.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
  };
  return {
    error(reply, started, e, context = {}) {
      finish(started, resultOf(e.status), e.status);
      log.info({ ...context, status: e.status, error: e.error, reason: e.description }, "token request refused");
      if (e.retryAfter !== undefined) void reply.header("retry-after", String(e.retryAfter));
      return reply.code(e.status).send(errorBody(e));
    },
    proxied(reply, started, r) {
      finish(started, "proxied", r.status);
      for (const [k, v] of Object.entries(r.headers)) void reply.header(k, v);
      return reply.code(r.status).send(r.body);
    },
    token(reply, started, token) {
      finish(started, "token", 200);
      return reply.code(200).header("content-type", "application/json; charset=utf-8").send(tokenBody(token, now()));
    },
  };
}
