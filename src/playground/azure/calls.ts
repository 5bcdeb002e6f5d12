// A record of every call the stand-ins answered, so tests and benchmarks can assert how many
// reads and writes a change cost. Appending is O(1); counting filters the list.

export type CallService = "arm" | "imds" | "entra";

export interface RecordedCall {
  service: CallService;
  method: string;
  /** What was addressed: `virtualMachineScaleSets`, `virtualMachines`, `virtualMachineScaleSetVMs`,
   * `userAssignedIdentities`, `operations` (LRO polls), `token`, `instance`, `openid`, ... */
  resource: string;
  /** `get`, `list`, `put`, `patch`, `poll`, `token`, ... */
  operation: string;
  /** Resource ID (ARM), node name (IMDS) or client ID (Entra); empty when unknown. */
  target: string;
  status: number;
  at: number;
}

export type CallFilter = Partial<Omit<RecordedCall, "at">>;

const COMPUTE_RESOURCES = ["virtualMachineScaleSets", "virtualMachines", "virtualMachineScaleSetVMs"] as const;

export class CallLog {
  #calls: RecordedCall[] = [];

  record(call: RecordedCall): void {
    this.#calls.push(call);
  }

  /** Calls matching every given field (`target` compared case-insensitively). */
  list(filter: CallFilter = {}): RecordedCall[] {
    const target = filter.target?.toLowerCase();
    return this.#calls.filter(
      (c) =>
        (filter.service === undefined || c.service === filter.service) &&
        (filter.method === undefined || c.method === filter.method) &&
        (filter.resource === undefined || c.resource === filter.resource) &&
        (filter.operation === undefined || c.operation === filter.operation) &&
        (filter.status === undefined || c.status === filter.status) &&
        (target === undefined || c.target.toLowerCase() === target),
    );
  }

  count(filter: CallFilter = {}): number {
    return this.list(filter).length;
  }

  /** ARM writes (PUT and PATCH), whatever their outcome. */
  armWrites(filter: CallFilter = {}): number {
    return this.list({ ...filter, service: "arm" }).filter((c) => c.method === "PUT" || c.method === "PATCH").length;
  }

  /** Writes to VMs and scale sets (what a federated identity must never cost). */
  computeWrites(): number {
    return COMPUTE_RESOURCES.reduce((n, resource) => n + this.armWrites({ resource }), 0);
  }

  reset(): void {
    this.#calls = [];
  }
}
