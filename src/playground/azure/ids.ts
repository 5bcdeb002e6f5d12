// Azure resource IDs: built from parts, parsed back, and compared case-insensitively, as ARM
// itself treats them.
import { PROVIDERS } from "./names.ts";

const rgPrefix = (sub: string, rg: string): string => `/subscriptions/${sub}/resourceGroups/${rg}`;

export function scaleSetId(sub: string, rg: string, name: string): string {
  return `${rgPrefix(sub, rg)}/providers/${PROVIDERS.compute}/virtualMachineScaleSets/${name}`;
}

export function scaleSetVmId(sub: string, rg: string, scaleSet: string, instanceId: string): string {
  return `${scaleSetId(sub, rg, scaleSet)}/virtualMachines/${instanceId}`;
}

export function vmId(sub: string, rg: string, name: string): string {
  return `${rgPrefix(sub, rg)}/providers/${PROVIDERS.compute}/virtualMachines/${name}`;
}

export function identityId(sub: string, rg: string, name: string): string {
  return `${rgPrefix(sub, rg)}/providers/${PROVIDERS.managedIdentity}/userAssignedIdentities/${name}`;
}

/** ARM compares resource IDs without regard to case; maps are keyed by this. */
export function idKey(id: string): string {
  return id.toLowerCase().replace(/\/+$/, "");
}

/**
 * The form in which ARM echoes identity keys on compute resources: `resourcegroups` in lower
 * case, whatever the caller sent. Callers must compare IDs case-insensitively; this keeps the
 * stand-in as awkward as the real service.
 */
export function armEchoedIdentityKey(id: string): string {
  return id.replace(/\/resourceGroups\//i, "/resourcegroups/");
}

const IDENTITY_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i;

export interface IdentityRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

/** Parses a user-assigned identity's resource ID; undefined when it is not one. */
export function parseIdentityId(id: string): IdentityRef | undefined {
  const m = IDENTITY_ID.exec(id.replace(/\/+$/, ""));
  if (!m) return undefined;
  return { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! };
}
