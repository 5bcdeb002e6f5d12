// The namespace policy in force: every AzurePodIdentityPolicy whose namespaceSelector matches
// the namespace applies, and the strictest answer wins. Allowed-identity lists are checked one
// by one (an identity must pass every applicable list), so an Audit policy's list only warns
// while an Enforce policy's list denies.
import type { NmiMode } from "../model/constants.ts";
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
  /** sidecar when any applicable policy asks for it. */
  nmiMode?: NmiMode;
}

export function effectivePolicy(
  namespaceLabels: Record<string, string>,
  policies: readonly AzurePodIdentityPolicy[],
): EffectivePolicy {
  const applicable = policies
    .filter((p) => matchesLabelSelector(namespaceLabels, p.namespaceSelector))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (applicable.length === 0)
    return {
      policies: [],
      onUnmatchedLabel: "Deny",
      onUnmatchedEnforced: true,
      enforcement: "Enforce",
      identityConstraints: [],
    };
  const denying = applicable.filter((p) => p.onUnmatchedLabel === "Deny");
  const eff: EffectivePolicy = {
    policies: applicable.map((p) => p.metadata.name),
    onUnmatchedLabel: denying.length > 0 ? "Deny" : "Warn",
    onUnmatchedEnforced: denying.some((p) => p.enforcement === "Enforce"),
    enforcement: applicable.some((p) => p.enforcement === "Enforce") ? "Enforce" : "Audit",
    identityConstraints: applicable
      .filter((p) => p.allowedIdentities !== undefined)
      .map((p) => ({ policy: p.metadata.name, enforcement: p.enforcement, allowed: p.allowedIdentities ?? [] })),
  };
  const modes = applicable.map((p) => p.nmiMode).filter((m) => m !== undefined);
  if (modes.includes("sidecar")) eff.nmiMode = "sidecar";
  else if (modes.length > 0) eff.nmiMode = modes[0];
  return eff;
}

/** An identity matches an entry when every pattern the entry gives matches. */
export function identityMatches(
  identity: Pick<AzureIdentity, "resourceID" | "clientID">,
  entry: AllowedIdentity,
): boolean {
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
  allowed: AllowedIdentity[];
}

/** The applicable policies whose allowed-identity list the identity is not on. */
export function identityViolations(
  eff: EffectivePolicy,
  identity: Pick<AzureIdentity, "resourceID" | "clientID">,
): IdentityViolation[] {
  return eff.identityConstraints.filter((c) => !c.allowed.some((a) => identityMatches(identity, a)));
}
