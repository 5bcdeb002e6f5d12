// JSON bodies of the resources as ARM returns them: only the fields clients read plus the
// ones that make a body recognisable (id, name, type, location, provisioningState).
import { identityTypeOf, type AssignedIdentities } from "./identity-change.ts";
import { armEchoedIdentityKey, idKey, scaleSetVmId } from "./ids.ts";
import type { ArmState, ComputeResource, IdentityRecord } from "./arm-state.ts";
import { IDENTITY_TYPES, RESOURCE_TYPES } from "./names.ts";

function renderIdentity(
  state: ArmState,
  r: ComputeResource,
  ids: AssignedIdentities,
): Record<string, unknown> | undefined {
  const type = identityTypeOf(ids);
  if (type === IDENTITY_TYPES.none) return undefined;
  const body: Record<string, unknown> = { type };
  if (ids.system) {
    body.principalId = r.systemIdentity.principalId;
    body.tenantId = state.cloud.tenantId;
  }
  if (ids.userAssigned.length > 0) {
    const map: Record<string, { principalId: string; clientId: string }> = {};
    for (const id of ids.userAssigned) {
      const rec = state.identities.get(idKey(id));
      map[armEchoedIdentityKey(rec?.id ?? id)] = { principalId: rec?.principalId ?? "", clientId: rec?.clientId ?? "" };
    }
    body.userAssignedIdentities = map;
  }
  return body;
}

function base(state: ArmState, r: ComputeResource, type: string): Record<string, unknown> {
  const body: Record<string, unknown> = { id: r.id, name: r.name, type, location: r.location, tags: r.tags };
  const identity = renderIdentity(state, r, r.identities);
  if (identity) body.identity = identity;
  return body;
}

export function renderScaleSet(state: ArmState, r: ComputeResource): Record<string, unknown> {
  const uniform = r.orchestrationMode === "Uniform";
  return {
    ...base(state, r, RESOURCE_TYPES.scaleSet),
    sku: { name: "Standard_D2s_v3", tier: "Standard", capacity: r.instances?.length ?? 0 },
    properties: {
      provisioningState: r.provisioningState,
      orchestrationMode: r.orchestrationMode,
      uniqueId: r.uniqueId,
      timeCreated: r.createdAt,
      ...(uniform
        ? { upgradePolicy: { mode: "Manual" }, overprovision: false, singlePlacementGroup: true }
        : { platformFaultDomainCount: 1 }),
    },
  };
}

export function renderVm(state: ArmState, r: ComputeResource): Record<string, unknown> {
  return {
    ...base(state, r, RESOURCE_TYPES.vm),
    properties: {
      provisioningState: r.provisioningState,
      vmId: r.uniqueId,
      timeCreated: r.createdAt,
      hardwareProfile: { vmSize: "Standard_D2s_v3" },
      osProfile: { computerName: r.computerName },
      ...(r.scaleSetId ? { virtualMachineScaleSet: { id: r.scaleSetId } } : {}),
    },
  };
}

/** A uniform scale set's instance; its identities are the scale set's. */
export function renderScaleSetVm(
  state: ArmState,
  ss: ComputeResource,
  instanceId: string,
): Record<string, unknown> | undefined {
  const inst = ss.instances?.find((i) => i.instanceId === instanceId);
  if (!inst) return undefined;
  return {
    id: scaleSetVmId(state.cloud.subscriptionId, ss.resourceGroup, ss.name, inst.instanceId),
    name: `${ss.name}_${inst.instanceId}`,
    type: RESOURCE_TYPES.scaleSetVm,
    location: ss.location,
    instanceId: inst.instanceId,
    sku: { name: "Standard_D2s_v3", tier: "Standard" },
    properties: {
      latestModelApplied: true,
      provisioningState: "Succeeded",
      vmId: `${ss.uniqueId.slice(0, 24)}${inst.instanceId.padStart(12, "0")}`,
      osProfile: { computerName: inst.computerName },
      hardwareProfile: { vmSize: "Standard_D2s_v3" },
    },
  };
}

/** As Resource Manager answers for userAssignedIdentities: the ID with `resourcegroups` in lower case. */
export function renderUserAssignedIdentity(state: ArmState, i: IdentityRecord): Record<string, unknown> {
  return {
    id: armEchoedIdentityKey(i.id),
    name: i.name,
    type: RESOURCE_TYPES.identity,
    location: state.cloud.location,
    tags: {},
    properties: {
      tenantId: state.cloud.tenantId,
      principalId: i.principalId,
      clientId: i.clientId,
      isolationScope: "None",
    },
  };
}

/** The body an `Azure-AsyncOperation` URL answers. */
export function renderOperation(op: {
  id: string;
  startedAt: number;
  completesAt: number;
  done: boolean;
}): Record<string, unknown> {
  return {
    name: op.id,
    startTime: new Date(op.startedAt).toISOString(),
    status: op.done ? "Succeeded" : "InProgress",
    ...(op.done ? { endTime: new Date(op.completesAt).toISOString() } : {}),
  };
}
