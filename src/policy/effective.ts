// The namespace policy in force: every AzurePodIdentityPolicy whose namespaceSelector matches
// the namespace applies, and the strictest answer wins. Allowed-identity lists are checked one
// by one (an identity must pass every applicable list), so an Audit policy's list only warns
// while an Enforce policy's list denies. A policy with `unlistedIdentities: Deny` makes every
// identity that no applicable list names unusable (default-deny for shared clusters).
import { EXCEPTION_NAMESPACES, type NmiMode } from "../model/constants.ts";
import type {
  AllowedIdentity,
  AzureIdentity,
  AzurePodIdentityPolicy,
  Enforcement,
  OnUnmatchedLabel,
} from "../model/types.ts";
import { globMatch, matchesLabelSelector } from "./selector.ts";

export interface IdentityConstraint {
  policy: string;
  enforcement: Enforcement;
  allowed: AllowedIdentity[];
}

export interface EffectivePolicy {
  /** Names of the policies that apply, sorted. Empty = podid's defaults. */
  policies: string[];
  /** Deny when any applicable policy says Deny, and by default. */
  onUnmatchedLabel: OnUnmatchedLabel;
  /** Whether an unmatched-label denial is enforced (some Deny policy enforces, or no policy). */
  onUnmatchedEnforced: boolean;
  /** Enforce when any applicable policy enforces, and by default; Audit only when all audit. */
  enforcement: Enforcement;
  /** One entry per applicable policy that lists allowed identities. */
  identityConstraints: IdentityConstraint[];
  /** The applicable policies with `unlistedIdentities: Deny`. */
  denyUnlisted: Array<{ policy: string; enforcement: Enforcement }>;
  /** Deny when any applicable policy denies exceptions, Allow when one allows them, else undefined (the default). */
  exceptions?: "Allow" | "Deny";
  /** sidecar when any applicable policy asks for it. */
  nmiMode?: NmiMode;
}

const DEFAULTS: EffectivePolicy = {
  policies: [],
  onUnmatchedLabel: "Deny",
  onUnmatchedEnforced: true,
  enforcement: "Enforce",
  identityConstraints: [],
  denyUnlisted: [],
};

export function effectivePolicy(
  namespaceLabels: Record<string, string>,
  policies: readonly AzurePodIdentityPolicy[],
): EffectivePolicy {
  const applicable = policies
    .filter((p) => matchesLabelSelector(namespaceLabels, p.namespaceSelector))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (applicable.length === 0) return { ...DEFAULTS, identityConstraints: [], denyUnlisted: [] };
  const denying = applicable.filter((p) => p.onUnmatchedLabel === "Deny");
  const eff: EffectivePolicy = {
    policies: applicable.map((p) => p.metadata.name),
    onUnmatchedLabel: denying.length > 0 ? "Deny" : "Warn",
    onUnmatchedEnforced: denying.some((p) => p.enforcement === "Enforce"),
    enforcement: applicable.some((p) => p.enforcement === "Enforce") ? "Enforce" : "Audit",
    identityConstraints: applicable
      .filter((p) => p.allowedIdentities !== undefined)
      .map((p) => ({ policy: p.metadata.name, enforcement: p.enforcement, allowed: p.allowedIdentities ?? [] })),
    denyUnlisted: applicable
      .filter((p) => p.unlistedIdentities === "Deny")
      .map((p) => ({ policy: p.metadata.name, enforcement: p.enforcement })),
  };
  const exceptions = applicable.map((p) => p.exceptions);
  if (exceptions.includes("Deny")) eff.exceptions = "Deny";
  else if (exceptions.includes("Allow")) eff.exceptions = "Allow";
  const modes = applicable.map((p) => p.nmiMode).filter((m) => m !== undefined);
  if (modes.includes("sidecar")) eff.nmiMode = "sidecar";
  else if (modes.length > 0) eff.nmiMode = modes[0];
  return eff;
}

/**
 * Whether AzurePodIdentityExceptions take effect in this namespace: an exception hands its
 * pods the node's IMDS, which is a cluster admin's decision. By default only in podid's own
 * namespace and kube-system; elsewhere a policy must say `exceptions: Allow` (and none Deny).
 */
export function exceptionsAllowed(namespace: string, eff: Pick<EffectivePolicy, "exceptions">): boolean {
  if (eff.exceptions !== undefined) return eff.exceptions === "Allow";
  return (EXCEPTION_NAMESPACES as readonly string[]).includes(namespace);
}

type IdentityFacts = Pick<AzureIdentity, "type" | "resourceID" | "clientID">;

/**
 * An identity matches an entry when every pattern the entry gives matches. A managed identity
 * (type 0) is named by its resource ID: its ClientID is only what its AzureIdentity claims, so
 * an entry without a resourceID pattern never allows one (a spoofed ClientID buys nothing).
 * Service principals (types 1 and 2) have no resource ID and are matched by client ID.
 */
export function identityMatches(identity: IdentityFacts, entry: AllowedIdentity): boolean {
  if (entry.resourceID === undefined && identity.type === 0) return false;
  if (
    entry.resourceID !== undefined &&
    (identity.resourceID === undefined || !globMatch(entry.resourceID, identity.resourceID))
  )
    return false;
  if (entry.clientID !== undefined && !globMatch(entry.clientID, identity.clientID)) return false;
  return true;
}

export interface IdentityViolation {
  policy: string;
  enforcement: Enforcement;
  /** not-listed: the policy's list lacks it; unlisted: no applicable list names it and the policy denies that. */
  kind: "not-listed" | "unlisted";
  allowed: AllowedIdentity[];
}

/** The applicable policies the identity falls foul of: lists it is not on, and default-deny when no list has it. */
export function identityViolations(eff: EffectivePolicy, identity: IdentityFacts): IdentityViolation[] {
  const out: IdentityViolation[] = [];
  let listed = false;
  for (const c of eff.identityConstraints) {
    if (c.allowed.some((a) => identityMatches(identity, a))) listed = true;
    else out.push({ policy: c.policy, enforcement: c.enforcement, kind: "not-listed", allowed: c.allowed });
  }
  if (!listed)
    for (const d of eff.denyUnlisted)
      out.push({ policy: d.policy, enforcement: d.enforcement, kind: "unlisted", allowed: [] });
  return out;
}

/** True when no applicable policy in Enforce denies the identity (Audit findings only warn). */
export function identityAllowed(eff: EffectivePolicy, identity: IdentityFacts): boolean {
  return identityViolations(eff, identity).every((v) => v.enforcement !== "Enforce");
}
