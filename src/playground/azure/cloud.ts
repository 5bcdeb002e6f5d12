// The playground cloud: a small, plain description of the Azure resources the stand-ins
// serve (one tenant, one subscription, scale sets with instances, standalone VMs, user-assigned
// identities, service principals). Everything else (resource IDs, node names, providerIDs) is
// derived from it by the pure functions below.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { STAND_IN_DEFAULTS } from "./names.ts";
import { scaleSetVmId, vmId } from "./ids.ts";

export type OrchestrationMode = "Uniform" | "Flexible";

export interface CloudScaleSetInstance {
  /** Instance ID as ARM numbers it ("0", "1", ...). */
  instanceId: string;
  /** The VM's host name; Kubernetes names the node after it. */
  computerName: string;
  /** Flexible mode only: the VM resource's name (default `<scaleSet>_<instanceId>`). */
  vmName?: string;
}

export interface CloudScaleSet {
  name: string;
  resourceGroup: string;
  orchestrationMode: OrchestrationMode;
  instances: CloudScaleSetInstance[];
  /** Names of user-assigned identities assigned at start (e.g. the kubelet identity). */
  identities?: string[];
  /** Whether the scale set (uniform) or each VM (flexible) has a system-assigned identity. */
  systemAssigned?: boolean;
}

export interface CloudVm {
  name: string;
  resourceGroup: string;
  computerName: string;
  identities?: string[];
  systemAssigned?: boolean;
}

export interface CloudIdentity {
  name: string;
  resourceGroup: string;
  clientId: string;
  principalId: string;
}

/** An app registration with a client secret (identity type 1); certificates are added at run time. */
export interface CloudServicePrincipal {
  name: string;
  clientId: string;
  objectId: string;
  secret?: string;
}

export interface PlaygroundCloud {
  tenantId: string;
  subscriptionId: string;
  location: string;
  resourceGroups: string[];
  scaleSets: CloudScaleSet[];
  vms: CloudVm[];
  identities: CloudIdentity[];
  servicePrincipals: CloudServicePrincipal[];
}

export interface PlaygroundNode {
  name: string;
  providerID: string;
}

const NODE_RG = "mc_podid_playground_westeurope";
const IDENTITY_RG = "podid-identities";

/** A small cloud: a uniform scale set (2 nodes), a flexible one (1 node), a standalone VM, four identities. */
export function defaultCloud(): PlaygroundCloud {
  const kubelet = "podid-playground-agentpool";
  return {
    tenantId: "72f988bf-0000-4000-8000-00000000a11d",
    subscriptionId: "0b1f6471-0000-4000-8000-00000000c10d",
    location: STAND_IN_DEFAULTS.location,
    resourceGroups: [NODE_RG, IDENTITY_RG],
    scaleSets: [
      {
        name: "aks-nodepool1-12345678-vmss",
        resourceGroup: NODE_RG,
        orchestrationMode: "Uniform",
        instances: [
          { instanceId: "0", computerName: "aks-nodepool1-12345678-vmss000000" },
          { instanceId: "1", computerName: "aks-nodepool1-12345678-vmss000001" },
        ],
        identities: [kubelet],
      },
      {
        name: "aks-flexpool-87654321-vmss",
        resourceGroup: NODE_RG,
        orchestrationMode: "Flexible",
        instances: [
          { instanceId: "0", computerName: "aks-flexpool-87654321-vmss000000", vmName: "aks-flexpool-87654321-vmss_0" },
        ],
        identities: [kubelet],
      },
    ],
    vms: [
      { name: "aks-standalone-0", resourceGroup: NODE_RG, computerName: "aks-standalone-0", identities: [kubelet] },
    ],
    identities: [
      identity(kubelet, NODE_RG, 1),
      identity("demo-reader", IDENTITY_RG, 2),
      identity("demo-writer", IDENTITY_RG, 3),
      identity("other-team", IDENTITY_RG, 4),
    ],
    servicePrincipals: [
      {
        name: "podid-reconciler",
        clientId: uuidFor("5e1f", 1),
        objectId: uuidFor("0b1e", 1),
        secret: randomBytes(24).toString("base64url"),
      },
    ],
  };
}

function identity(name: string, resourceGroup: string, n: number): CloudIdentity {
  return { name, resourceGroup, clientId: uuidFor("c11e", n), principalId: uuidFor("9a1d", n) };
}

/** Readable, valid-looking GUIDs for the default cloud (stable across runs, so docs can quote them). */
function uuidFor(tag: string, n: number): string {
  return `${tag}${String(n).padStart(4, "0")}-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

/** The VM name of a flexible scale set's instance. */
export function flexibleVmName(scaleSet: CloudScaleSet, instance: CloudScaleSetInstance): string {
  return instance.vmName ?? `${scaleSet.name}_${instance.instanceId}`;
}

/** The Kubernetes nodes of the cloud, with AKS-style providerIDs (`azure://` + resource ID). */
export function nodesOf(cloud: PlaygroundCloud): PlaygroundNode[] {
  const nodes: PlaygroundNode[] = [];
  for (const ss of cloud.scaleSets) {
    for (const inst of ss.instances) {
      const id =
        ss.orchestrationMode === "Uniform"
          ? scaleSetVmId(cloud.subscriptionId, ss.resourceGroup, ss.name, inst.instanceId)
          : vmId(cloud.subscriptionId, ss.resourceGroup, flexibleVmName(ss, inst));
      nodes.push({ name: inst.computerName.toLowerCase(), providerID: `azure://${id}` });
    }
  }
  for (const vm of cloud.vms) {
    nodes.push({
      name: vm.computerName.toLowerCase(),
      providerID: `azure://${vmId(cloud.subscriptionId, vm.resourceGroup, vm.name)}`,
    });
  }
  return nodes;
}

const name = z.string().min(1);
const cloudShape = z.object({
  tenantId: z.string(),
  subscriptionId: z.string(),
  location: name,
  resourceGroups: z.array(name),
  scaleSets: z.array(
    z.object({
      name,
      resourceGroup: name,
      orchestrationMode: z.enum(["Uniform", "Flexible"]),
      instances: z.array(z.object({ instanceId: name, computerName: name, vmName: name.optional() })),
      identities: z.array(name).optional(),
      systemAssigned: z.boolean().optional(),
    }),
  ),
  vms: z.array(
    z.object({
      name,
      resourceGroup: name,
      computerName: name,
      identities: z.array(name).optional(),
      systemAssigned: z.boolean().optional(),
    }),
  ),
  identities: z.array(z.object({ name, resourceGroup: name, clientId: z.string(), principalId: z.string() })),
  servicePrincipals: z.array(
    z.object({ name, clientId: z.string(), objectId: z.string(), secret: z.string().optional() }),
  ),
});

/** `a.b[0].c` from a zod issue path. */
function fieldOf(path: ReadonlyArray<PropertyKey>): string {
  return (
    path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("") || "(cloud)"
  );
}

/** Problems with a cloud description, each naming the field and what was expected; empty when valid. */
export function validateCloud(input: unknown): string[] {
  const shape = cloudShape.safeParse(input);
  if (!shape.success) return shape.error.issues.map((i) => `${fieldOf(i.path)}: ${i.message}`);
  return checkCloud(shape.data);
}

function checkCloud(cloud: PlaygroundCloud): string[] {
  const errors: string[] = [];
  const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (!guid.test(cloud.tenantId)) errors.push(`tenantId: expected a GUID, got ${JSON.stringify(cloud.tenantId)}`);
  if (!guid.test(cloud.subscriptionId))
    errors.push(`subscriptionId: expected a GUID, got ${JSON.stringify(cloud.subscriptionId)}`);
  const groups = new Set(cloud.resourceGroups.map((g) => g.toLowerCase()));
  const identityNames = new Set(cloud.identities.map((i) => i.name.toLowerCase()));
  const checkGroup = (field: string, rg: string): void => {
    if (!groups.has(rg.toLowerCase()))
      errors.push(`${field}.resourceGroup: ${JSON.stringify(rg)} is not in resourceGroups`);
  };
  const checkIdentities = (field: string, names: string[] | undefined): void => {
    for (const n of names ?? []) {
      if (!identityNames.has(n.toLowerCase()))
        errors.push(`${field}.identities: ${JSON.stringify(n)} is not in identities`);
    }
  };
  const nodeNames = new Set<string>();
  const checkNode = (field: string, computerName: string): void => {
    const n = computerName.toLowerCase();
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n))
      errors.push(`${field}.computerName: ${JSON.stringify(computerName)} is not a valid node name`);
    if (nodeNames.has(n)) errors.push(`${field}.computerName: ${JSON.stringify(computerName)} is used twice`);
    nodeNames.add(n);
  };
  cloud.scaleSets.forEach((ss, i) => {
    const f = `scaleSets[${i}]`;
    checkGroup(f, ss.resourceGroup);
    checkIdentities(f, ss.identities);
    if (ss.orchestrationMode !== "Uniform" && ss.orchestrationMode !== "Flexible") {
      errors.push(
        `${f}.orchestrationMode: expected "Uniform" or "Flexible", got ${JSON.stringify(ss.orchestrationMode)}`,
      );
    }
    ss.instances.forEach((inst, j) => checkNode(`${f}.instances[${j}]`, inst.computerName));
  });
  cloud.vms.forEach((vm, i) => {
    checkGroup(`vms[${i}]`, vm.resourceGroup);
    checkIdentities(`vms[${i}]`, vm.identities);
    checkNode(`vms[${i}]`, vm.computerName);
  });
  cloud.identities.forEach((id, i) => {
    checkGroup(`identities[${i}]`, id.resourceGroup);
    if (!guid.test(id.clientId))
      errors.push(`identities[${i}].clientId: expected a GUID, got ${JSON.stringify(id.clientId)}`);
    if (!guid.test(id.principalId))
      errors.push(`identities[${i}].principalId: expected a GUID, got ${JSON.stringify(id.principalId)}`);
  });
  cloud.servicePrincipals.forEach((sp, i) => {
    if (!guid.test(sp.clientId))
      errors.push(`servicePrincipals[${i}].clientId: expected a GUID, got ${JSON.stringify(sp.clientId)}`);
  });
  return errors;
}
