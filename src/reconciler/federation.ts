// Workload identity federation, decided purely: which identities need podid's one federated
// identity credential (bound somewhere as Federated, not per pod or per namespace), what to do
// about the credential Resource Manager has under podid's name, and what a federated
// assignment's AzureAssignedIdentity should say. The controller gathers the inputs and carries
// out the result; the credential itself is read and written through FederatedCredentialClient.
import { FEDERATION, type TokenSourceName } from "../model/constants.ts";
import { resourceIdKey, tokenSourceOf } from "../model/identity.ts";
import type { AzureIdentity, AzureIdentityBinding, AzurePodIdentityPolicy } from "../model/types.ts";
import { effectivePolicy, identityAllowed } from "../policy/index.ts";
import type { AssignedStatus } from "./desired.ts";
import type { FederatedCredential, FederatedCredentialSpec } from "./federated-client.ts";
import type { NamespaceInfo } from "./kube-objects.ts";

/** How the reconciler federates; undefined in the controller: federation not configured. */
export interface FederationSettings {
  /** The cluster's service-account issuer (the credential's issuer). */
  issuer: string;
  /** podid's namespace: the NMI's service account is `podid-nmi` there. */
  podidNamespace: string;
  /** false: the admin keeps the credentials; podid only reads them. */
  manage: boolean;
}

/** The ARM ID of an identity's credential, as Resource Manager names it. */
export function federatedCredentialId(identityResourceId: string, name: string): string {
  return `${identityResourceId.replace(/\/+$/, "")}/federatedIdentityCredentials/${name}`;
}

/** The credential podid keeps on every federated identity. */
export function wantedCredential(f: Pick<FederationSettings, "issuer" | "podidNamespace">): FederatedCredentialSpec {
  return { issuer: f.issuer, subject: FEDERATION.subject(f.podidNamespace), audiences: [FEDERATION.audience] };
}

/** Entra matches issuer and subject exactly, and the assertion's audience against the list. */
export function credentialMatches(c: FederatedCredentialSpec, want: FederatedCredentialSpec): boolean {
  return (
    c.issuer === want.issuer &&
    c.subject === want.subject &&
    c.audiences.length === want.audiences.length &&
    want.audiences.every((a) => c.audiences.includes(a))
  );
}

export type CredentialAction = "none" | "create" | "correct" | "delete";

/**
 * What to do about the credential named podid's name: create it when wanted and missing,
 * correct it when it trusts another issuer or subject, delete it when no longer wanted. Other
 * credentials of the identity are never looked at.
 */
export function credentialAction(
  wanted: FederatedCredentialSpec | undefined,
  actual: FederatedCredential | undefined,
): CredentialAction {
  if (wanted === undefined) return actual === undefined ? "none" : "delete";
  if (actual === undefined) return "create";
  return credentialMatches(actual, wanted) ? "none" : "correct";
}

export interface FederatedBoundInput {
  bindings: readonly AzureIdentityBinding[];
  identities: readonly AzureIdentity[];
  policies: readonly AzurePodIdentityPolicy[];
  namespaces: readonly NamespaceInfo[];
  clusterDefault: TokenSourceName;
}

/**
 * The user-assigned identities (resource ID key → resource ID) that some AzureIdentityBinding,
 * in any namespace, binds as Federated, and that the binding namespace's policy allows: a
 * namespace cannot make podid trust itself for an identity its policy denies it.
 */
export function federatedBound(input: FederatedBoundInput): Map<string, string> {
  const byName = new Map(input.identities.map((i) => [`${i.metadata.namespace ?? ""}/${i.metadata.name}`, i]));
  const nsLabels = new Map(input.namespaces.map((n) => [n.name, n.labels]));
  const policyOf = new Map<string, ReturnType<typeof effectivePolicy>>();
  const out = new Map<string, string>();
  for (const b of input.bindings) {
    const ns = b.metadata.namespace ?? "";
    const identity = byName.get(`${ns}/${b.azureIdentity}`);
    if (identity?.resourceID === undefined || tokenSourceOf(identity, input.clusterDefault) !== "Federated") continue;
    let eff = policyOf.get(ns);
    if (eff === undefined) policyOf.set(ns, (eff = effectivePolicy(nsLabels.get(ns) ?? {}, input.policies)));
    if (!identityAllowed(eff, identity)) continue;
    out.set(resourceIdKey(identity.resourceID), identity.resourceID);
  }
  return out;
}

/** What the reconciler knows about an identity's credential. */
export type CredentialState =
  /** A credential under podid's name trusts the NMI: tokens can be exchanged. */
  | { kind: "ready"; id: string }
  /** Being read or written, or a write to retry (409, throttling, 5xx). */
  | { kind: "pending"; message?: string }
  /** Cannot be made ready without a person: the limit, a refusal, or (manage=false) missing. */
  | { kind: "failed"; reason: string; message: string };

export const REASONS = {
  missing: "FederatedCredentialMissing",
  limit: "FederatedCredentialLimit",
  rejected: "FederatedCredentialRejected",
  notConfigured: "FederationNotConfigured",
} as const;

/** Failed, manage=false: the admin must create it; the message names exactly what Entra will match. */
export function missingCredential(
  identityResourceId: string,
  want: FederatedCredentialSpec,
  found: FederatedCredential | undefined,
): CredentialState {
  const what =
    found === undefined
      ? `has no federated identity credential named ${FEDERATION.credentialName}`
      : `has a federated identity credential ${FEDERATION.credentialName} with issuer ${found.issuer}, ` +
        `subject ${found.subject} and audiences ${found.audiences.join(", ")}`;
  return {
    kind: "failed",
    reason: REASONS.missing,
    message:
      `identity ${identityResourceId} ${what}; podid does not manage credentials here ` +
      `(--manage-federated-credentials=false): create ${FEDERATION.credentialName} with issuer ${want.issuer}, ` +
      `subject ${want.subject} and audience ${want.audiences.join(", ")}`,
  };
}

/** Failed on Resource Manager's refusal of the credential's write; the limit gets what to do about it. */
export function refusedCredential(identityResourceId: string, code: string, message: string): CredentialState {
  if (/limit|maximum|exceed/i.test(`${code} ${message}`))
    return {
      kind: "failed",
      reason: REASONS.limit,
      message:
        `identity ${identityResourceId} already has the maximum of 20 federated identity credentials, so podid ` +
        `cannot add ${FEDERATION.credentialName} (${code}: ${message}). Delete one it no longer needs ` +
        `(az identity federated-credential list/delete), or use tokenSource: NodeAssigned for this identity.`,
    };
  const role = /AuthorizationFailed/i.test(code)
    ? "; the reconciler needs Managed Identity Contributor on the identity, or " +
      "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read, /write and /delete"
    : "";
  return {
    kind: "failed",
    reason: REASONS.rejected,
    message: `Resource Manager refused podid's federated identity credential on ${identityResourceId}: ${code}: ${message}${role}`,
  };
}

export interface SourcedStatusInput {
  /** The status the node path computes (ClientID check, node target, on target). */
  nodeStatus: AssignedStatus;
  /** Where this assignment's tokens should come from now. */
  source: TokenSourceName;
  /** The identity's credential (Federated identities; also NodeAssigned ones while moving back). */
  credential: CredentialState | undefined;
  /** What the AzureAssignedIdentity says now (undefined: not written yet). */
  current: AssignedStatus | undefined;
  /** The ClientID check failed or is pending: nothing is served either way. */
  unverified: boolean;
}

const isFederatedAssigned = (s: AssignedStatus | undefined): boolean =>
  s?.status === "Assigned" && s.tokenSource === "Federated";
const isNodeAssigned = (s: AssignedStatus | undefined): boolean =>
  s?.status === "Assigned" && s.tokenSource !== "Federated";

/**
 * A pod's AzureAssignedIdentity when tokens can come from federation. Never leaves a pod without
 * a source while it moves: to Federated, it stays NodeAssigned until the credential is ready; back
 * to NodeAssigned, it stays Federated until the VM or scale set has the identity.
 */
export function sourcedStatus(s: SourcedStatusInput): AssignedStatus {
  if (s.unverified) return s.nodeStatus;
  const c = s.credential;
  if (s.source === "NodeAssigned") {
    if (s.nodeStatus.status === "Assigned") return s.nodeStatus;
    if (isFederatedAssigned(s.current) && c?.kind === "ready")
      return { status: "Assigned", tokenSource: "Federated", target: c.id };
    return s.nodeStatus;
  }
  if (c?.kind === "ready") return { status: "Assigned", tokenSource: "Federated", target: c.id };
  // Still served by its node while the credential is not ready: say so, and why it is not ready.
  if (isNodeAssigned(s.current) && s.nodeStatus.status === "Assigned")
    return c?.kind === "failed" ? { ...s.nodeStatus, reason: c.reason, message: c.message } : s.nodeStatus;
  if (c?.kind === "failed") return { status: "Failed", reason: c.reason, message: c.message, tokenSource: "Federated" };
  return { status: "Created", tokenSource: "Federated" };
}

/**
 * Whether a Federated assignment still needs its node to have the identity: only while its
 * AzureAssignedIdentity says the node serves it (flipped once the credential is ready, then
 * released by the usual grace period).
 */
export function keepsNode(source: TokenSourceName, current: AssignedStatus | undefined): boolean {
  return source === "NodeAssigned" || isNodeAssigned(current);
}

/** Whether a NodeAssigned assignment still relies on the credential (moving back, VM write not done). */
export function reliesOnCredential(source: TokenSourceName, current: AssignedStatus | undefined): boolean {
  return source === "Federated" || isFederatedAssigned(current);
}
