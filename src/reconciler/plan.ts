// The difference between what a VM or scale set has and what its pods need, and the PATCH
// bodies that close it. Pure: the controller gathers the inputs (ARM state, podid's ownership
// record, the grace clock) and carries out the result.
//
// Ownership rules: podid adds what pods need and is missing; it removes only what its own
// record says it added, once no pod has needed it for the grace period; an identity someone
// else put there (present before podid wanted it) is never claimed, so never removed.
import { LIMITS } from "../model/constants.ts";
import { identityKey } from "./target.ts";

export type IdentityType = "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned" | "None";

/** A VM's or scale set's identities as Resource Manager reports them. */
export interface ArmIdentityState {
  type: string | undefined;
  /** identity key (lower-cased ID) → ID as Resource Manager spells it */
  userAssigned: ReadonlyMap<string, string>;
}

/** One identity podid added to a target, as its durable record keeps it. */
export interface OwnedEntry {
  id: string;
  since: string;
}

export interface PlanInput {
  /** identity key → resource ID, for every identity the target's pods need */
  desired: ReadonlyMap<string, string>;
  actual: ArmIdentityState;
  owned: ReadonlyMap<string, OwnedEntry>;
  /** identity key → when podid first saw it owned but not needed (ms) */
  unneededSince: ReadonlyMap<string, number>;
  /** identity keys Resource Manager refused recently: not offered again yet */
  rejected: ReadonlySet<string>;
  now: number;
  graceMs: number;
}

export interface TargetPlan {
  add: Map<string, string>;
  remove: Map<string, string>;
  /** Record as owned before the PATCH, so a crash after it cannot orphan them. */
  claim: Map<string, string>;
  /** Owned, not on the target any more and not needed: drop from the record. */
  release: string[];
  /** The grace clock to keep for the next round. */
  unneededSince: Map<string, number>;
  /** When the earliest pending removal becomes due, if any. */
  wakeAt?: number;
}

export function planTarget(input: PlanInput): TargetPlan {
  const { desired, actual, owned, now, graceMs } = input;
  const add = new Map<string, string>();
  const claim = new Map<string, string>();
  for (const [key, id] of desired) {
    if (input.rejected.has(key) || actual.userAssigned.has(key)) continue;
    add.set(key, id);
    if (!owned.has(key)) claim.set(key, id);
  }

  const remove = new Map<string, string>();
  const release: string[] = [];
  const unneededSince = new Map<string, number>();
  let wakeAt: number | undefined;
  for (const key of owned.keys()) {
    if (desired.has(key)) continue;
    const onTarget = actual.userAssigned.get(key);
    if (onTarget === undefined) {
      release.push(key);
      continue;
    }
    const since = input.unneededSince.get(key) ?? now;
    unneededSince.set(key, since);
    if (now - since >= graceMs) {
      remove.set(key, onTarget);
    } else {
      const due = since + graceMs;
      wakeAt = wakeAt === undefined ? due : Math.min(wakeAt, due);
    }
  }
  return { add, remove, claim, release, unneededSince, ...(wakeAt !== undefined ? { wakeAt } : {}) };
}

/** The body of one identity PATCH (`null` removes an identity). */
export interface IdentityPatch {
  type: IdentityType;
  userAssignedIdentities?: Record<string, Record<string, never> | null>;
}

const hasSystemAssigned = (type: string | undefined): boolean => (type ?? "").toLowerCase().includes("systemassigned");

/**
 * The PATCH bodies for a plan: one when it fits, split at the per-request limit beyond.
 * Removals go first, so a target near its identity limit frees room before it gains.
 * When nothing user-assigned is left, the type alone says so (Resource Manager refuses a
 * `UserAssigned` type with an empty set).
 */
export function buildPatches(
  actual: ArmIdentityState,
  add: ReadonlyMap<string, string>,
  remove: ReadonlyMap<string, string>,
  maxPerRequest: number = LIMITS.identitiesPerArmRequest,
): IdentityPatch[] {
  const system = hasSystemAssigned(actual.type);
  const entries: Array<[string, string, boolean]> = [
    ...[...remove].map(([k, id]): [string, string, boolean] => [k, id, false]),
    ...[...add].map(([k, id]): [string, string, boolean] => [k, id, true]),
  ];
  const current = new Set(actual.userAssigned.keys());
  const patches: IdentityPatch[] = [];
  for (let i = 0; i < entries.length; i += maxPerRequest) {
    const chunk = entries.slice(i, i + maxPerRequest);
    const body: Record<string, Record<string, never> | null> = {};
    for (const [key, id, adding] of chunk) {
      body[id] = adding ? {} : null;
      if (adding) current.add(key);
      else current.delete(key);
    }
    if (current.size === 0) {
      patches.push({ type: system ? "SystemAssigned" : "None" });
    } else {
      patches.push({ type: system ? "SystemAssigned, UserAssigned" : "UserAssigned", userAssignedIdentities: body });
    }
  }
  return patches;
}

/** What a target looks like after a PATCH succeeds (when Resource Manager's answer lacks it). */
export function applyPatch(actual: ArmIdentityState, patch: IdentityPatch): ArmIdentityState {
  const ua = new Map(actual.userAssigned);
  if (patch.userAssignedIdentities === undefined) ua.clear();
  for (const [id, v] of Object.entries(patch.userAssignedIdentities ?? {})) {
    const key = identityKey(id);
    if (v === null) ua.delete(key);
    else ua.set(key, id);
  }
  return { type: patch.type, userAssigned: ua };
}

/** True when the target has every identity it needs and nothing podid should remove now. */
export const planIsEmpty = (p: TargetPlan): boolean => p.add.size === 0 && p.remove.size === 0;
