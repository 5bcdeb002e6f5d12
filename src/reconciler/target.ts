// Where a node's identities live in Resource Manager. A node's providerID names either a
// scale-set instance or a VM; identities on a uniform scale set are set on the scale set (every
// instance inherits them), identities for flexible scale sets and standalone VMs per VM.
// Pure: the orchestration mode comes in as an argument (the adapter reads it from ARM once).

export type OrchestrationMode = "Uniform" | "Flexible";

/** What a providerID says about a node, before the scale set's mode is known. */
export type NodeLocation =
  | { kind: "vmss"; subscriptionId: string; resourceGroup: string; scaleSet: string; instance: string }
  | { kind: "vm"; subscriptionId: string; resourceGroup: string; vm: string };

/** A VM or scale set whose user-assigned identities podid manages. */
export interface Target {
  kind: "vmss" | "vm";
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** The ARM resource ID. */
  id: string;
  /** ARM IDs are case-insensitive: the lower-cased ID is the key everywhere. */
  key: string;
}

const PROVIDER_ID =
  /^azure:\/\/\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(?:virtualMachineScaleSets\/([^/]+)\/virtualMachines\/([^/]+)|virtualMachines\/([^/]+))\/?$/i;

export type ProviderIdResult = { ok: true; value: NodeLocation } | { ok: false; error: string };

export function parseProviderId(providerID: string | undefined): ProviderIdResult {
  if (providerID === undefined || providerID === "") {
    return {
      ok: false,
      error: "node has no spec.providerID (expected azure:///subscriptions/.../providers/Microsoft.Compute/...)",
    };
  }
  const m = PROVIDER_ID.exec(providerID);
  if (m === null) {
    return {
      ok: false,
      error: `spec.providerID ${JSON.stringify(providerID)} is not an Azure VM or scale-set instance (expected azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<vm> or .../virtualMachineScaleSets/<vmss>/virtualMachines/<instance>)`,
    };
  }
  const [, subscriptionId = "", resourceGroup = "", scaleSet, instance, vm] = m;
  if (scaleSet !== undefined && instance !== undefined) {
    return { ok: true, value: { kind: "vmss", subscriptionId, resourceGroup, scaleSet, instance } };
  }
  return { ok: true, value: { kind: "vm", subscriptionId, resourceGroup, vm: vm ?? "" } };
}

export function scaleSetId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

export function vmId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

function makeTarget(kind: Target["kind"], subscriptionId: string, resourceGroup: string, name: string): Target {
  const id =
    kind === "vmss" ? scaleSetId(subscriptionId, resourceGroup, name) : vmId(subscriptionId, resourceGroup, name);
  return { kind, subscriptionId, resourceGroup, name, id, key: id.toLowerCase() };
}

/**
 * The resource to write for a node. A uniform scale set is written once for all its
 * instances; an instance of a flexible scale set is a VM of its own (its name is the instance
 * segment), written per VM.
 */
export function targetFor(loc: NodeLocation, mode: OrchestrationMode | undefined): Target {
  if (loc.kind === "vm") return makeTarget("vm", loc.subscriptionId, loc.resourceGroup, loc.vm);
  if (mode === "Flexible") return makeTarget("vm", loc.subscriptionId, loc.resourceGroup, loc.instance);
  return makeTarget("vmss", loc.subscriptionId, loc.resourceGroup, loc.scaleSet);
}

/** Rebuilds a target from its ARM ID (as kept in ownership records). */
export function targetFromId(id: string): Target | undefined {
  const m =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(virtualMachineScaleSets|virtualMachines)\/([^/]+)$/i.exec(
      id,
    );
  if (m === null) return undefined;
  const [, sub = "", rg = "", type = "", name = ""] = m;
  return makeTarget(type.toLowerCase() === "virtualmachinescalesets" ? "vmss" : "vm", sub, rg, name);
}

/** Identity resource IDs are compared case-insensitively, without a trailing slash (the model's key). */
export { resourceIdKey as identityKey } from "../model/identity.ts";
