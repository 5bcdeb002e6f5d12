// The words a person reads after `admission webhook "..." denied the request: `. Each says
// which label and value, which namespace, what was missing and how to fix it. The namespace
// that holds a selector used across namespaces is never named (it is logged for admins).
import { BINDING_LABEL } from "../model/constants.ts";
import type { AllowedIdentity, AzureIdentity } from "../model/types.ts";

const label = (selector: string): string => `label ${BINDING_LABEL}=${selector}`;

export const messages = {
  hostNetwork: (selector: string): string =>
    `${label(selector)}: pods with hostNetwork: true cannot use pod identity, because the node's identity proxy cannot tell them apart from the node itself. Remove the label or set hostNetwork: false.`,
  crossNamespace: (selector: string, ns: string): string =>
    `${label(selector)}: no AzureIdentityBinding with selector "${selector}" exists in namespace "${ns}". The selector is bound in another namespace, and podid does not let a pod use another namespace's binding (cross-namespace reuse). Create an AzureIdentity and an AzureIdentityBinding with Selector "${selector}" in namespace "${ns}", or remove the label.`,
  unmatched: (selector: string, ns: string): string =>
    `${label(selector)}: no AzureIdentityBinding with selector "${selector}" exists in namespace "${ns}". Create an AzureIdentityBinding with Selector "${selector}" in namespace "${ns}" (referencing an AzureIdentity there), or remove the label.`,
  missingIdentity: (selector: string, ns: string, binding: string, identity: string): string =>
    `${label(selector)}: AzureIdentityBinding "${binding}" in namespace "${ns}" references AzureIdentity "${identity}", which does not exist in namespace "${ns}". Create AzureIdentity "${identity}" in namespace "${ns}" or correct the binding's AzureIdentity field.`,
  notAllowed: (
    selector: string,
    ns: string,
    identity: AzureIdentity,
    policy: string,
    allowed: AllowedIdentity[],
  ): string =>
    `${label(selector)}: AzureIdentity "${identity.metadata.name}" in namespace "${ns}" (${describeIdentity(identity)}) is not allowed in this namespace by AzurePodIdentityPolicy "${policy}", which allows ${describeAllowed(allowed)}. Use an allowed identity or ask a cluster admin to change the policy.`,
  identityNotAllowed: (identity: AzureIdentity, ns: string, policy: string, allowed: AllowedIdentity[]): string =>
    `AzureIdentity "${identity.metadata.name}" (${describeIdentity(identity)}) is not allowed in namespace "${ns}" by AzurePodIdentityPolicy "${policy}", which allows ${describeAllowed(allowed)}. Use an allowed identity or ask a cluster admin to change the policy.`,
  audit: (message: string): string => `audit: this would be denied: ${message}`,
} as const;

export function describeIdentity(identity: Pick<AzureIdentity, "resourceID" | "clientID">): string {
  return identity.resourceID !== undefined
    ? `resource ID ${identity.resourceID}, client ID ${identity.clientID}`
    : `client ID ${identity.clientID}`;
}

export function describeAllowed(allowed: AllowedIdentity[]): string {
  if (allowed.length === 0) return "no identities";
  return allowed
    .map((a) =>
      [
        a.resourceID !== undefined ? `resourceID ${a.resourceID}` : "",
        a.clientID !== undefined ? `clientID ${a.clientID}` : "",
      ]
        .filter(Boolean)
        .join(" and "),
    )
    .join("; ");
}
