// The words a person reads after `admission webhook "..." denied the request: `. Each says
// which label and value, which namespace, what was missing and how to fix it. The namespace
// that holds a selector used across namespaces is never named (it is logged for admins).
import { BINDING_LABEL } from "../model/constants.ts";
import type { AllowedIdentity, AzureIdentity } from "../model/types.ts";
import type { IdentityViolation } from "./effective.ts";

const label = (selector: string): string => `label ${BINDING_LABEL}=${selector}`;

export const messages = {
  hostNetwork: (selector: string): string =>
    `${label(selector)}: pods with hostNetwork: true cannot use pod identity, because the node's ` +
    `identity proxy cannot tell them apart from the node itself. Remove the label or set hostNetwork: ` +
    `false.`,
  crossNamespace: (selector: string, ns: string): string =>
    `${label(selector)}: no AzureIdentityBinding with selector "${selector}" exists in namespace ` +
    `"${ns}". The selector is bound in another namespace, and podid does not let a pod use another ` +
    `namespace's binding (cross-namespace reuse). Create an AzureIdentity and an AzureIdentityBinding ` +
    `with Selector "${selector}" in namespace "${ns}", or remove the label.`,
  unmatched: (selector: string, ns: string): string =>
    `${label(selector)}: no AzureIdentityBinding with selector "${selector}" exists in namespace ` +
    `"${ns}". Create an AzureIdentityBinding with Selector "${selector}" in namespace "${ns}" (referencing ` +
    `an AzureIdentity there), or remove the label.`,
  missingIdentity: (selector: string, ns: string, binding: string, identity: string): string =>
    `${label(selector)}: AzureIdentityBinding "${binding}" in namespace "${ns}" references AzureIdentity ` +
    `"${identity}", which does not exist in namespace "${ns}". Create AzureIdentity "${identity}" ` +
    `in namespace "${ns}" or correct the binding's AzureIdentity field.`,
  notAllowed: (selector: string, ns: string, identity: AzureIdentity, v: IdentityViolation): string =>
    `${label(selector)}: AzureIdentity "${identity.metadata.name}" in namespace "${ns}" (${describeIdentity(identity)}) ` +
    `is not allowed in this namespace${byPolicy(v)}. Use an allowed identity or ask a cluster admin ` +
    `to change the policy.`,
  identityNotAllowed: (identity: AzureIdentity, ns: string, v: IdentityViolation): string =>
    `AzureIdentity "${identity.metadata.name}" (${describeIdentity(identity)}) is not allowed in ` +
    `namespace "${ns}"${byPolicy(v)}. Use an allowed identity or ask a cluster admin to change ` +
    `the policy.`,
  exceptionNotAllowed: (name: string, ns: string, policies: string[]): string =>
    `AzurePodIdentityException "${name}": exceptions are not allowed in namespace "${ns}" (${
      policies.length === 0
        ? "by default they take effect only in kube-system and podid's own namespace"
        : `AzurePodIdentityPolicy ${policies.join(", ")} does not allow them`
    }). An excepted pod is passed to the node's own IMDS, which serves every identity of the node; ` +
    `ask a cluster admin for an AzurePodIdentityPolicy with exceptions: Allow for this namespace.`,
  exceptionIgnored: (name: string, ns: string): string =>
    `AzurePodIdentityException "${name}" matches this pod but is ignored: exceptions are not allowed ` +
    `in namespace "${ns}" (a cluster admin allows them with an AzurePodIdentityPolicy saying exceptions: ` +
    `Allow).`,
  audit: (message: string): string => `audit: this would be denied: ${message}`,
} as const;

export function describeIdentity(identity: Pick<AzureIdentity, "resourceID" | "clientID">): string {
  return identity.resourceID !== undefined
    ? `resource ID ${identity.resourceID}, client ID ${identity.clientID}`
    : `client ID ${identity.clientID}`;
}

function byPolicy(v: IdentityViolation): string {
  return v.kind === "unlisted"
    ? `: no AzurePodIdentityPolicy that applies lists it, and AzurePodIdentityPolicy "${v.policy}" ` +
        `denies identities no policy lists (unlistedIdentities: Deny)`
    : ` by AzurePodIdentityPolicy "${v.policy}", which allows ${describeAllowed(v.allowed)}`;
}

export function describeAllowed(allowed: AllowedIdentity[]): string {
  if (allowed.length === 0) return "no identities";
  return allowed
    .map((a) =>
      a.resourceID === undefined
        ? `clientID ${a.clientID ?? ""} (service principals only: managed identities are allowed by resourceID)`
        : [`resourceID ${a.resourceID}`, a.clientID !== undefined ? `clientID ${a.clientID}` : ""]
            .filter(Boolean)
            .join(" and "),
    )
    .join("; ");
}
