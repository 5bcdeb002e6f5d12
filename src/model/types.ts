// The aadpodidentity.k8s.io/v1 kinds as podid's programs see them: parsed once (parse.ts),
// normalised, and never re-checked downstream. Raw objects keep AAD Pod Identity's spellings
// (`ResourceID`, `Selector`, ...); these types use one spelling each.
import type { NmiMode, TokenSourceName } from "./constants.ts";

export type { NmiMode, TokenSourceName } from "./constants.ts";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** 0 user-assigned managed identity, 1 service principal + secret, 2 service principal + certificate. */
export type IdentityType = 0 | 1 | 2;

export interface SecretRef {
  name: string;
  namespace: string;
}

export interface AzureIdentity {
  metadata: ObjectMeta;
  type: IdentityType;
  /** Type 0: as written; compare with `resourceIdKey` (Azure resource IDs are case-insensitive). */
  resourceID?: string;
  /** Lower-cased GUID. */
  clientID: string;
  /** Types 1 and 2: lower-cased GUID. */
  tenantID?: string;
  /** Types 1 and 2: the Secret holding the client secret, or the PEM certificate and key. */
  clientPassword?: SecretRef;
  /** Type 0: `spec.tokenSource`; absent = the cluster's default (see `tokenSourceOf`). */
  tokenSource?: TokenSourceName;
}

export interface AzureIdentityBinding {
  metadata: ObjectMeta;
  /** Name of an AzureIdentity in the binding's namespace. */
  azureIdentity: string;
  /** Value of the pods' `aadpodidbinding` label. */
  selector: string;
  nmiMode?: NmiMode;
}

export interface AzurePodIdentityException {
  metadata: ObjectMeta;
  /** Applies to pods of its own namespace having all these labels; values stringified (`noaad: true`). */
  podLabels: Record<string, string>;
}

export type LabelSelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";
export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface AllowedIdentity {
  /** Glob pattern (`*` = any run of characters), case-insensitive. */
  resourceID?: string;
  /** Glob pattern (`*` = any run of characters), case-insensitive. */
  clientID?: string;
}

export type OnUnmatchedLabel = "Deny" | "Warn";
export type Enforcement = "Enforce" | "Audit";
export type AllowOrDeny = "Allow" | "Deny";

export interface AzurePodIdentityPolicy {
  /** Cluster-scoped: no namespace. */
  metadata: ObjectMeta;
  namespaceSelector: LabelSelector;
  /** Absent = any identity. */
  allowedIdentities?: AllowedIdentity[];
  /** Default Deny. */
  onUnmatchedLabel: OnUnmatchedLabel;
  /** Default Enforce. */
  enforcement: Enforcement;
  /**
   * Deny: in these namespaces an identity must be listed by an applicable policy's
   * allowedIdentities (default-deny for shared clusters). Default Allow.
   */
  unlistedIdentities: AllowOrDeny;
  /** Whether AzurePodIdentityExceptions take effect in these namespaces; absent = podid's default. */
  exceptions?: AllowOrDeny;
  nmiMode?: NmiMode;
}

export type AssignedIdentityState = "Created" | "Assigned" | "Failed";

export interface AzureAssignedIdentitySpec {
  pod: string;
  podNamespace: string;
  podUID: string;
  nodeName: string;
  azureIdentityRef: { name: string; namespace: string; type: IdentityType; clientID: string; resourceID?: string };
  azureBindingRef: { name: string; namespace: string; selector: string };
}

export interface AzureAssignedIdentityStatus {
  status: AssignedIdentityState;
  reason?: string;
  message?: string;
  /**
   * ARM ID of the VM or scale set the identity was assigned to; for a Federated assignment,
   * of the identity's federated identity credential.
   */
  target?: string;
  /** How the NMI gets this pod's tokens, as the reconciler prepared it; absent = NodeAssigned. */
  tokenSource?: TokenSourceName;
  observedGeneration?: number;
}

/** namespace = the pod's; name `<pod>-<identity>` (truncated and hashed when too long); owned by the pod. */
export interface AzureAssignedIdentity {
  metadata: ObjectMeta;
  spec: AzureAssignedIdentitySpec;
  status?: AzureAssignedIdentityStatus;
}

export interface FieldError {
  field: string;
  message: string;
}
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };
