// Decoding an AdmissionReview v1 request: the HTTP edge checks the envelope once, so handlers
// get a typed request and never look at shapes again.
import { describe, isObject } from "../model/read.ts";

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
const OPERATIONS: readonly Operation[] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  operation: Operation;
  namespace?: string;
  name?: string;
  subResource?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun: boolean;
  username?: string;
}

export type Decoded = { ok: true; request: AdmissionRequest } | { ok: false; message: string };

const bad = (message: string): Decoded => ({ ok: false, message });
const optString = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function addOptional(request: AdmissionRequest, r: Record<string, unknown>): void {
  const ns = optString(r.namespace);
  if (ns !== undefined) request.namespace = ns;
  const name = optString(r.name);
  if (name !== undefined) request.name = name;
  const sub = optString(r.subResource);
  if (sub !== undefined) request.subResource = sub;
  if (r.object !== undefined && r.object !== null) request.object = r.object;
  if (r.oldObject !== undefined && r.oldObject !== null) request.oldObject = r.oldObject;
  const user = isObject(r.userInfo) ? optString(r.userInfo.username) : undefined;
  if (user !== undefined) request.username = user;
}

export function decodeReview(body: unknown): Decoded {
  if (!isObject(body)) return bad(`expected an AdmissionReview object, got ${describe(body)}`);
  if (body.apiVersion !== "admission.k8s.io/v1")
    return bad(
      `expected apiVersion admission.k8s.io/v1 (set admissionReviewVersions: ["v1"]), got ${describe(body.apiVersion)}`,
    );
  if (body.kind !== "AdmissionReview") return bad(`expected kind AdmissionReview, got ${describe(body.kind)}`);
  const r = body.request;
  if (!isObject(r)) return bad(`request: expected an object, got ${describe(r)}`);
  if (typeof r.uid !== "string" || r.uid === "" || r.uid.length > 256)
    return bad(`request.uid: expected a non-empty string, got ${describe(r.uid)}`);
  const k = r.kind;
  if (
    !isObject(k) ||
    typeof k.kind !== "string" ||
    typeof k.version !== "string" ||
    (k.group !== undefined && typeof k.group !== "string")
  )
    return bad(`request.kind: expected {group, version, kind}, got ${describe(k)}`);
  const op = OPERATIONS.find((o) => o === r.operation);
  if (op === undefined)
    return bad(`request.operation: expected one of ${OPERATIONS.join(", ")}, got ${describe(r.operation)}`);
  const request: AdmissionRequest = {
    uid: r.uid,
    kind: { group: k.group ?? "", version: k.version, kind: k.kind },
    operation: op,
    dryRun: r.dryRun === true,
  };
  addOptional(request, r);
  return { ok: true, request };
}
