// The AdmissionReview envelope (admission.k8s.io/v1) the apiserver sends, and how it reads
// the answer: denials worded as webhookerrors.ToStatusErr words them, JSONPatch decoded,
// warnings kept. Pure functions.
import { randomUUID } from "node:crypto";
import { ApiError, type StatusDetails } from "../status.ts";
import { isRecord, text } from "../types.ts";
import type { AdmissionAttributes } from "./match.ts";

export function buildReview(a: AdmissionAttributes, uid: string = randomUUID()): Record<string, unknown> {
  const request: Record<string, unknown> = {
    uid,
    kind: a.kind,
    resource: { group: a.def.group, version: a.def.version, resource: a.def.plural },
    requestKind: a.kind,
    requestResource: { group: a.def.group, version: a.def.version, resource: a.def.plural },
    operation: a.operation,
    userInfo: a.user,
    object: a.object ?? null,
    oldObject: a.oldObject ?? null,
    dryRun: a.dryRun,
    options: a.options,
  };
  if (a.subresource !== "") {
    request.subResource = a.subresource;
    request.requestSubResource = a.subresource;
  }
  if (a.name !== "") request.name = a.name;
  if (a.namespace !== "") request.namespace = a.namespace;
  return { kind: "AdmissionReview", apiVersion: "admission.k8s.io/v1", request };
}

export interface ReviewOutcome {
  allowed: boolean;
  /** The denial, ready to send to the client. */
  denial?: ApiError;
  /** Decoded JSONPatch operations. */
  patch?: unknown[];
  warnings: string[];
}

/** A malformed answer: the caller reports it like a failed call. */
export class InvalidResponse extends Error {}

/** webhookerrors.ToStatusErr: `admission webhook "x" denied the request: <message>`. */
export function denial(webhook: string, status: unknown, warnings: string[]): ApiError {
  const s = isRecord(status) ? status : {};
  const deniedBy = `admission webhook "${webhook}" denied the request`;
  const code = typeof s.code === "number" && s.code >= 400 ? s.code : 400;
  const reason = typeof s.reason === "string" ? s.reason : "";
  const message =
    typeof s.message === "string" && s.message !== ""
      ? `${deniedBy}: ${s.message}`
      : reason !== ""
        ? `${deniedBy}: ${reason}`
        : `${deniedBy} without explanation`;
  const details = isRecord(s.details) ? (s.details as StatusDetails) : undefined;
  return new ApiError(code, reason, message, details, warnings);
}

export function readResponse(webhook: string, uid: string, body: unknown): ReviewOutcome {
  if (!isRecord(body) || body.kind !== "AdmissionReview" || body.apiVersion !== "admission.k8s.io/v1") {
    const got = isRecord(body) ? `${String(body.apiVersion)}, Kind=${String(body.kind)}` : "a non-object";
    throw new InvalidResponse(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${got}`);
  }
  const r = body.response;
  if (!isRecord(r)) throw new InvalidResponse("webhook response was absent");
  if (r.uid !== uid) throw new InvalidResponse(`expected response.uid="${uid}", got "${String(r.uid)}"`);
  const warnings = Array.isArray(r.warnings) ? r.warnings.map(String) : [];
  if (r.allowed !== true) return { allowed: false, denial: denial(webhook, r.status, warnings), warnings };
  if (r.patch === undefined || r.patch === null) return { allowed: true, warnings };
  if (r.patchType !== "JSONPatch") throw new InvalidResponse(`unsupported patch type "${String(r.patchType)}"`);
  let ops: unknown;
  try {
    ops = JSON.parse(Buffer.from(text(r.patch), "base64").toString("utf8"));
  } catch {
    throw new InvalidResponse("the patch is not base64-encoded JSON");
  }
  if (!Array.isArray(ops)) throw new InvalidResponse("the patch is not a JSONPatch array");
  return { allowed: true, patch: ops, warnings };
}
