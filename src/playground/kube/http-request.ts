// What every route of the playground's HTTP edge shares: Status answers and warning headers,
// request bodies (JSON, YAML, kubectl's protobuf), the request context from the query, delete
// options, and lists as JSON streamed in chunks.
import { parse as parseYaml } from "yaml";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { DeleteOptions, RequestCtx } from "./api.ts";
import { decodeKubeProtobuf } from "./protobuf.ts";
import { badRequest, toApiError } from "./status.ts";
import { objectJson } from "./store.ts";
import { apiVersionOf, isRecord, type KObject, type ResourceDef, type UserInfo } from "./types.ts";

export type Query = Record<string, string | undefined>;

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toApiError(err);
  for (const w of e.warnings) void reply.header("warning", warningHeader(w));
  return reply.code(e.code).type("application/json").send(e.toStatus());
}

/** RFC 7234 warning with the apiserver's agent `-`: kubectl prints `Warning: <text>`. */
export const warningHeader = (text: string): string => `299 - "${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** The request body as JSON: JSON as sent, or kubectl's protobuf for the kinds it creates that way. */
export function parseBody(req: FastifyRequest): unknown {
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

export function ctxOf(q: Query, user: UserInfo): RequestCtx {
  const dry = q.dryRun;
  if (dry !== undefined && dry !== "All" && dry !== "")
    throw badRequest(`Invalid dry run value: ${dry}: supported values: "All"`);
  const fv = q.fieldValidation;
  if (fv !== undefined && !["Strict", "Warn", "Ignore", ""].includes(fv)) {
    throw badRequest(`invalid fieldValidation directive: ${fv}: supported values are Ignore, Warn, Strict`);
  }
  return { user, dryRun: dry === "All", fieldManager: q.fieldManager, fieldValidation: fv === "" ? undefined : fv };
}

export function* listChunks(def: ResourceDef, items: KObject[], meta: Record<string, unknown>): Generator<string> {
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
export function deleteOptionsOf(q: Query, body: Record<string, unknown>): DeleteOptions & { dryRun: boolean } {
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

export function asList(def: ResourceDef, items: KObject[], meta: Record<string, unknown>): Record<string, unknown> {
  return { kind: def.listKind, apiVersion: apiVersionOf(def), metadata: meta, items };
}
