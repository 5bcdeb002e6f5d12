// The Resource Manager stand-in's state: compute resources with their identities, the
// long-running operations in flight, and the throttling buckets. Identities a write assigns
// become effective (visible to IMDS) only when its operation completes, as on a real VM.
// Operations complete lazily: every read settles those whose time has come, so no timers run.
import { randomUUID } from "node:crypto";
import {
  flexibleVmName,
  type CloudIdentity,
  type CloudScaleSetInstance,
  type OrchestrationMode,
  type PlaygroundCloud,
} from "./cloud.ts";
import { identityId, idKey, scaleSetId, scaleSetVmId, vmId } from "./ids.ts";
import type { AssignedIdentities } from "./identity-change.ts";
import { takeToken, type Bucket, type ThrottleConfig, type TakeResult } from "./throttle.ts";

export interface ComputeResource {
  kind: "scaleSet" | "vm";
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  uniqueId: string;
  createdAt: string;
  /** Scale sets only. */
  orchestrationMode?: OrchestrationMode;
  instances?: CloudScaleSetInstance[];
  /** VMs only. */
  computerName?: string;
  /** Flexible scale sets' VMs: the scale set they belong to. */
  scaleSetId?: string;
  /** The model as ARM shows it. */
  identities: AssignedIdentities;
  /** What the machine has right now (IMDS's view): the model of the last completed operation. */
  effective: AssignedIdentities;
  /** The system-assigned identity's IDs; stable for the resource's life in the playground. */
  systemIdentity: { principalId: string; clientId: string };
  tags: Record<string, string>;
  provisioningState: "Succeeded" | "Updating";
  operation?: Operation;
}

export interface Operation {
  id: string;
  resourceKey: string;
  startedAt: number;
  completesAt: number;
  done: boolean;
  next: AssignedIdentities;
}

export interface IdentityRecord extends CloudIdentity {
  id: string;
}

/**
 * A user-assigned identity's federated identity credential, as Resource Manager holds it
 * (`.../userAssignedIdentities/{identity}/federatedIdentityCredentials/{name}`). Entra's
 * stand-in matches client assertions against these.
 */
export interface FederatedCredentialRecord {
  /** ARM ID of the credential. */
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface ArmStateOptions {
  now: () => number;
  lroDurationMs: number;
  throttle: ThrottleConfig;
}

/** Where a node's identities live: its VM, or its uniform scale set. */
export interface NodeBinding {
  nodeName: string;
  /** The resource whose identities the node's IMDS serves. */
  resourceKey: string;
  /** The node's own VM resource ID (a scale-set VM for uniform scale sets). */
  vmResourceId: string;
  computerName: string;
  scaleSetName?: string;
}

export class ArmState {
  readonly cloud: PlaygroundCloud;
  readonly resources = new Map<string, ComputeResource>();
  readonly identities = new Map<string, IdentityRecord>();
  readonly nodes = new Map<string, NodeBinding>();
  readonly operations = new Map<string, Operation>();
  /** Federated identity credentials by identity (its `idKey`), then by lower-cased credential name. */
  readonly federatedCredentials = new Map<string, Map<string, FederatedCredentialRecord>>();
  #inFlight = new Set<Operation>();
  #buckets = new Map<string, Bucket>();
  lroDurationMs: number;
  throttle: ThrottleConfig;
  readonly now: () => number;

  constructor(cloud: PlaygroundCloud, opts: ArmStateOptions) {
    this.cloud = cloud;
    this.now = opts.now;
    this.lroDurationMs = opts.lroDurationMs;
    this.throttle = opts.throttle;
    const sub = cloud.subscriptionId;
    for (const i of cloud.identities) {
      const id = identityId(sub, i.resourceGroup, i.name);
      this.identities.set(idKey(id), { ...i, id });
    }
    for (const ss of cloud.scaleSets) {
      const ssId = scaleSetId(sub, ss.resourceGroup, ss.name);
      const ids = this.#initial(ss.identities, ss.systemAssigned);
      this.#add(
        {
          kind: "scaleSet",
          id: ssId,
          name: ss.name,
          resourceGroup: ss.resourceGroup,
          orchestrationMode: ss.orchestrationMode,
          instances: ss.instances,
        },
        ids,
      );
      for (const inst of ss.instances) {
        if (ss.orchestrationMode === "Uniform") {
          this.#bind(
            inst.computerName,
            idKey(ssId),
            scaleSetVmId(sub, ss.resourceGroup, ss.name, inst.instanceId),
            ss.name,
          );
          continue;
        }
        const name = flexibleVmName(ss, inst);
        const id = vmId(sub, ss.resourceGroup, name);
        this.#add(
          { kind: "vm", id, name, resourceGroup: ss.resourceGroup, computerName: inst.computerName, scaleSetId: ssId },
          this.#initial(ss.identities, ss.systemAssigned),
        );
        this.#bind(inst.computerName, idKey(id), id, ss.name);
      }
    }
    for (const vm of cloud.vms) {
      const id = vmId(sub, vm.resourceGroup, vm.name);
      this.#add(
        { kind: "vm", id, name: vm.name, resourceGroup: vm.resourceGroup, computerName: vm.computerName },
        this.#initial(vm.identities, vm.systemAssigned),
      );
      this.#bind(vm.computerName, idKey(id), id, undefined);
    }
  }

  #initial(names: string[] | undefined, system: boolean | undefined): AssignedIdentities {
    const sub = this.cloud.subscriptionId;
    const byName = new Map(this.cloud.identities.map((i) => [i.name.toLowerCase(), i]));
    const userAssigned = (names ?? []).flatMap((n) => {
      const i = byName.get(n.toLowerCase());
      return i ? [identityId(sub, i.resourceGroup, i.name)] : [];
    });
    return { system: system ?? false, userAssigned };
  }

  #add(
    r: Pick<
      ComputeResource,
      "kind" | "id" | "name" | "resourceGroup" | "orchestrationMode" | "instances" | "computerName" | "scaleSetId"
    >,
    ids: AssignedIdentities,
  ): void {
    this.resources.set(idKey(r.id), {
      ...r,
      location: this.cloud.location,
      uniqueId: randomUUID(),
      createdAt: new Date(this.now()).toISOString(),
      identities: ids,
      effective: ids,
      systemIdentity: { principalId: randomUUID(), clientId: randomUUID() },
      tags: {},
      provisioningState: "Succeeded",
    });
  }

  #bind(computerName: string, resourceKey: string, vmResourceId: string, scaleSetName: string | undefined): void {
    const nodeName = computerName.toLowerCase();
    this.nodes.set(nodeName, {
      nodeName,
      resourceKey,
      vmResourceId,
      computerName,
      ...(scaleSetName ? { scaleSetName } : {}),
    });
  }

  /** Completes every operation whose time has come. Cheap when nothing is in flight. */
  settle(): void {
    if (this.#inFlight.size === 0) return;
    const now = this.now();
    for (const op of this.#inFlight) {
      if (op.completesAt <= now) this.#complete(op);
    }
  }

  #complete(op: Operation): void {
    op.done = true;
    this.#inFlight.delete(op);
    const r = this.resources.get(op.resourceKey);
    if (r && r.operation === op) {
      r.effective = op.next;
      r.provisioningState = "Succeeded";
      delete r.operation;
    }
  }

  get(id: string): ComputeResource | undefined {
    this.settle();
    return this.resources.get(idKey(id));
  }

  lookupIdentity(id: string): IdentityRecord | undefined {
    return this.identities.get(idKey(id));
  }

  /** Takes a write token from the resource's bucket. */
  takeWriteToken(resourceKey: string): TakeResult {
    const result = takeToken(this.#buckets.get(resourceKey), this.now(), this.throttle);
    this.#buckets.set(resourceKey, result.bucket);
    return result;
  }

  /** Whether another operation is still running on the resource. */
  busy(r: ComputeResource): boolean {
    this.settle();
    return r.operation !== undefined && !r.operation.done;
  }

  /** Applies a write to the model and starts its operation; with no duration it completes at once. */
  write(r: ComputeResource, next: AssignedIdentities, tags: Record<string, string> | undefined): Operation {
    if (r.operation && !r.operation.done) this.#complete(r.operation); // superseded (conflicts switched off)
    const now = this.now();
    const op: Operation = {
      id: randomUUID(),
      resourceKey: idKey(r.id),
      startedAt: now,
      completesAt: now + this.lroDurationMs,
      done: false,
      next,
    };
    r.identities = next;
    if (tags) r.tags = tags;
    if (this.lroDurationMs <= 0) {
      // Completed in the response itself: nobody polls it, so it is not kept.
      r.effective = next;
      op.done = true;
      return op;
    }
    if (this.operations.size >= 10_000) this.prune();
    this.operations.set(op.id, op);
    r.operation = op;
    r.provisioningState = "Updating";
    this.#inFlight.add(op);
    return op;
  }

  operation(id: string): Operation | undefined {
    this.settle();
    return this.operations.get(id);
  }

  /** Forgets completed operations older than a minute, so long benchmarks do not grow memory. */
  prune(): void {
    const cutoff = this.now() - 60_000;
    for (const [id, op] of this.operations) if (op.done && op.completesAt < cutoff) this.operations.delete(id);
  }

  /** Refills every throttling bucket. */
  resetThrottling(): void {
    this.#buckets.clear();
  }
}
