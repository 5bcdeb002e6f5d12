// The narrow interface the reconciler needs from Resource Manager, and the predicates it
// branches on. The production adapter (arm-client.ts) wraps @azure/arm-compute; unit tests pass
// a fake that throws ArmError the same way.
import type { ArmIdentityState, IdentityPatch } from "./plan.ts";
import type { OrchestrationMode, Target } from "./target.ts";

export interface VmIdentityClient {
  /** The target's current identities. Throws ArmError (404 when the resource is gone). */
  getIdentities(target: Target): Promise<ArmIdentityState>;
  /**
   * Applies one PATCH; returns the identities Resource Manager reports afterwards, or
   * undefined when its answer does not say (the caller then applies the patch itself).
   */
  patchIdentities(target: Target, patch: IdentityPatch): Promise<ArmIdentityState | undefined>;
  /** A scale set's orchestration mode (it never changes: callers cache it). */
  getOrchestrationMode(subscriptionId: string, resourceGroup: string, scaleSet: string): Promise<OrchestrationMode>;
}

/** A Resource Manager failure reduced to what the reconciler decides on. */
export class ArmError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** From Retry-After (seconds or HTTP date), when Resource Manager sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ArmError";
  }
}

const status = (e: unknown): number | undefined => (e instanceof ArmError ? e.statusCode : undefined);

/** 429: wait for Retry-After (or a default) before calling this target again. */
export function isThrottled(e: unknown): { retryAfterMs: number | undefined } | undefined {
  return status(e) === 429 ? { retryAfterMs: (e as ArmError).retryAfterMs } : undefined;
}

/** 409: another operation is running on the resource; back off and retry. */
export const isConflict = (e: unknown): boolean => status(e) === 409;
export const isNotFound = (e: unknown): boolean => status(e) === 404;
/** 5xx and network failures (no status): transient, back off and retry. */
export const isTransient = (e: unknown): boolean => {
  const s = status(e);
  return s === undefined || s === 0 || s >= 500;
};

const IDENTITY_ID =
  /\/subscriptions\/[^/\s'"]+\/resourcegroups\/[^/\s'"]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/\s'",;)]+/gi;

/**
 * A 4xx that names identities of the request: those identities are invalid (deleted, in
 * another tenant, or podid may not assign them), the rest of the batch is not. Resource
 * Manager names the identity in the message (FailedIdentityOperation,
 * LinkedAuthorizationFailed, InvalidIdentityValues...); which ones of the request it named is
 * the answer, as identity keys.
 */
export function invalidIdentities(e: unknown, requested: Iterable<string>): string[] | undefined {
  const s = status(e);
  if (s === undefined || s < 400 || s >= 500 || s === 409 || s === 429) return undefined;
  const named = new Set(((e as ArmError).message.match(IDENTITY_ID) ?? []).map((m) => m.toLowerCase()));
  const hit = [...requested].filter((k) => named.has(k));
  return hit.length > 0 ? hit : undefined;
}

/** Parses a Retry-After header: delta seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
