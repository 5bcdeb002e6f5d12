// Every AdmissionResponse the webhook sends is built here, so the UID, the status code and the
// review envelope are set in one place.
import type { Operation } from "fast-json-patch";

export interface AdmissionStatus {
  code: number;
  message: string;
  reason?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: "JSONPatch";
  /** base64 of the JSON Patch. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: AdmissionResponse;
}

const REASONS: Record<number, string> = { 400: "BadRequest", 403: "Forbidden", 422: "Invalid", 500: "InternalError" };

const withWarnings = (r: AdmissionResponse, warnings: readonly string[] | undefined): AdmissionResponse =>
  warnings !== undefined && warnings.length > 0 ? { ...r, warnings: [...warnings] } : r;

export function allowed(uid: string, warnings?: readonly string[]): AdmissionResponse {
  return withWarnings({ uid, allowed: true }, warnings);
}

/** A denial kubectl prints as `Error from server (Forbidden): ... denied the request: <message>`. */
export function denied(uid: string, message: string, code = 403, warnings?: readonly string[]): AdmissionResponse {
  return withWarnings(
    { uid, allowed: false, status: { code, reason: REASONS[code] ?? "Forbidden", message } },
    warnings,
  );
}

// A frozen patch (podPatch shares them between pods) is encoded once.
const encodedPatches = new WeakMap<readonly Operation[], string>();
function encodePatch(ops: readonly Operation[]): string {
  let patch = encodedPatches.get(ops);
  if (patch === undefined) {
    patch = Buffer.from(JSON.stringify(ops)).toString("base64");
    if (Object.isFrozen(ops)) encodedPatches.set(ops, patch);
  }
  return patch;
}

/** Allowed with a JSON Patch; an empty patch is left out (the apiserver needs none). */
export function patched(uid: string, ops: readonly Operation[], warnings?: readonly string[]): AdmissionResponse {
  if (ops.length === 0) return allowed(uid, warnings);
  return withWarnings({ uid, allowed: true, patchType: "JSONPatch", patch: encodePatch(ops) }, warnings);
}

/** The webhook could not decide (bad request, internal error): not allowed, with why. */
export function errored(uid: string, code: number, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code, reason: REASONS[code] ?? "InternalError", message } };
}

export function reviewOf(response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}
