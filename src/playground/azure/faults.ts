// The failures the stand-ins produce, each switchable. Every switch mirrors a real limit or
// error and is on by default; tests turn one off to isolate another, or inject a one-off error.

export interface InjectedArmFault {
  status: number;
  code: string;
  message: string;
  /** Sent as `Retry-After` (seconds) when given. */
  retryAfterSeconds?: number;
  /** HTTP methods it applies to (default: PUT and PATCH). */
  methods?: string[];
  /** How many matching calls fail (default 1). */
  times?: number;
}

export interface FaultSwitches {
  /** 429 under compute's write buckets (burst 12, refill 4 a minute per scale set or VM). */
  throttling: boolean;
  /** 409 for a write while another operation runs on the same resource. */
  conflicts: boolean;
  /** 400 for a write referencing an identity that does not exist (the whole request fails). */
  unknownIdentities: boolean;
  /** 400 for a write naming more than 150 identities. */
  identityLimit: boolean;
  /** IMDS's 429 beyond 20 requests a second or 5 concurrent, per node. */
  imdsRateLimit: boolean;
  /** 400 when an identity would get more than 20 federated identity credentials. */
  federatedCredentialLimit: boolean;
  /** 409 for a federated identity credential write while another runs on the same identity. */
  federatedConflicts: boolean;
}

export class Faults implements FaultSwitches {
  throttling = true;
  conflicts = true;
  unknownIdentities = true;
  identityLimit = true;
  imdsRateLimit = true;
  federatedCredentialLimit = true;
  federatedConflicts = true;
  #injected: Array<Required<Omit<InjectedArmFault, "retryAfterSeconds">> & { retryAfterSeconds?: number }> = [];
  /**
   * Identities (resource ID keys) the caller has no role assignment to read: their GET answers
   * 403 AuthorizationFailed, as Resource Manager does without Managed Identity Operator or Reader.
   */
  readonly unreadableIdentities = new Set<string>();
  /**
   * Identities (resource ID keys) on whose federated identity credentials the caller may not
   * write: PUT and DELETE answer 403 AuthorizationFailed, as without Managed Identity Contributor.
   */
  readonly unwritableCredentials = new Set<string>();

  /** Switches several faults at once, e.g. `set({ throttling: false })`. */
  set(switches: Partial<FaultSwitches>): void {
    Object.assign(this, switches);
  }

  /** Makes the next matching ARM calls fail with the given error. */
  injectArm(fault: InjectedArmFault): void {
    this.#injected.push({ methods: ["PUT", "PATCH"], times: 1, ...fault });
  }

  /** The injected fault for this call, if any (consumes one use). */
  takeInjected(method: string): InjectedArmFault | undefined {
    const i = this.#injected.findIndex((f) => f.methods.includes(method));
    if (i < 0) return undefined;
    const f = this.#injected[i]!;
    f.times -= 1;
    if (f.times <= 0) this.#injected.splice(i, 1);
    return f;
  }

  /** Every switch back on, no injected faults left, every identity readable. */
  reset(): void {
    this.set({
      throttling: true,
      conflicts: true,
      unknownIdentities: true,
      identityLimit: true,
      imdsRateLimit: true,
      federatedCredentialLimit: true,
      federatedConflicts: true,
    });
    this.#injected = [];
    this.unreadableIdentities.clear();
    this.unwritableCredentials.clear();
  }
}
