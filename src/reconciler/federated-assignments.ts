// The controller's token-source side: which assignments still need their node, which
// identities need podid's credential (and keeping it, through CredentialSync), and each
// assignment's status once its source is considered. The decisions are federation.ts's; this
// gathers their inputs from the caches.
import { FEDERATION, type TokenSourceName } from "../model/constants.ts";
import { resourceIdKey, tokenSourceOf } from "../model/identity.ts";
import type { Logger } from "../shared/log.ts";
import type { ControllerOptions, Sources } from "./controller.ts";
import { CredentialSync, type CredentialCounts } from "./credential-sync.ts";
import type { AssignedStatus, DesiredAssignment } from "./desired.ts";
import type { FederatedCredentialClient } from "./federated-client.ts";
import { federatedBound, keepsNode, reliesOnCredential, REASONS, sourcedStatus } from "./federation.ts";

/** How soon to look again after flipping assignments between token sources (the cache catches up). */
export const FLIP_SETTLE_MS = 250;

const sourceKey = (s: AssignedStatus | undefined): TokenSourceName => s?.tokenSource ?? "NodeAssigned";

/** Whether a status write moves an assignment from one token source to the other. */
export const flipsSource = (before: AssignedStatus | undefined, after: AssignedStatus): boolean =>
  sourceKey(before) !== sourceKey(after);

export interface FederatedAssignmentsDeps {
  sources: Pick<Sources, "assigned" | "bindings" | "identities" | "policies" | "namespaces">;
  options: Pick<
    ControllerOptions,
    "defaultTokenSource" | "federation" | "federationUnavailable" | "credentialRecheckMs" | "armCacheMs"
  >;
  /** Required when `options.federation` is set. */
  client?: FederatedCredentialClient;
  log: Logger;
  now: () => number;
  wakeAt: (at: number) => void;
  checkLeading: () => void;
}

export class FederatedAssignments {
  /** undefined when federation is not configured. */
  private readonly credentials: CredentialSync | undefined;
  private seeded = false;

  constructor(private readonly deps: FederatedAssignmentsDeps) {
    const { federation } = deps.options;
    if (federation === undefined) return;
    if (deps.client === undefined) throw new Error("Controller: federation needs a FederatedCredentialClient");
    this.credentials = new CredentialSync({
      client: deps.client,
      settings: federation,
      log: deps.log,
      armCacheMs: deps.options.armCacheMs,
      recheckMs: deps.options.credentialRecheckMs ?? 30_000,
      now: deps.now,
      wakeAt: deps.wakeAt,
      checkLeading: deps.checkLeading,
    });
  }

  private get defaultSource(): TokenSourceName {
    return this.deps.options.defaultTokenSource ?? FEDERATION.defaultTokenSource;
  }

  /** Where the assignment's tokens should come from (service principals: not a question; NodeAssigned). */
  sourceOf(a: DesiredAssignment): TokenSourceName {
    return tokenSourceOf(a.identity, this.defaultSource) ?? "NodeAssigned";
  }

  /** What the pod's AzureAssignedIdentity says now, when it is this pod's. */
  private currentStatus(a: DesiredAssignment): AssignedStatus | undefined {
    const cur = this.deps.sources.assigned.get(a.name, a.namespace);
    return cur !== undefined && cur.spec.podUID === a.pod.uid ? cur.status : undefined;
  }

  /**
   * The assignments whose node must have the identity: NodeAssigned ones, and Federated ones
   * whose AzureAssignedIdentity still says the node serves them (the common case, NodeAssigned,
   * needs no look at the current object).
   */
  onNodes(assignments: DesiredAssignment[]): DesiredAssignment[] {
    return assignments.filter((a) => {
      const source = this.sourceOf(a);
      return source === "NodeAssigned" || keepsNode(source, this.currentStatus(a));
    });
  }

  /**
   * The credential on every identity bound as Federated somewhere, and on those whose pods still
   * rely on it while moving back to NodeAssigned; removed from the others.
   */
  async syncCredentials(assignments: DesiredAssignment[], counts: CredentialCounts): Promise<void> {
    const sync = this.credentials;
    if (sync === undefined) return;
    const { sources } = this.deps;
    const wanted = federatedBound({
      bindings: sources.bindings.list(),
      identities: sources.identities.list(),
      policies: sources.policies.list(),
      namespaces: sources.namespaces.list(),
      clusterDefault: this.defaultSource,
    });
    for (const a of assignments) {
      const id = a.identity.resourceID;
      if (a.identity.type === 0 && id !== undefined && reliesOnCredential(this.sourceOf(a), this.currentStatus(a)))
        wanted.set(resourceIdKey(id), id);
    }
    if (!this.seeded) {
      // After a start: identities podid may have left a credential on, though nothing binds them now.
      const seeds = new Map<string, string>();
      for (const i of sources.identities.list())
        if (i.resourceID !== undefined && tokenSourceOf(i, this.defaultSource) === "Federated")
          seeds.set(resourceIdKey(i.resourceID), i.resourceID);
      for (const x of sources.assigned.list()) {
        const id = x.spec.azureIdentityRef.resourceID;
        if (x.status?.tokenSource === "Federated" && id !== undefined) seeds.set(resourceIdKey(id), id);
      }
      sync.seed(seeds);
      this.seeded = true;
    }
    await sync.sync(wanted, counts);
  }

  /** The status once token sources are considered: federation's, or the node's while moving between them. */
  status(a: DesiredAssignment, nodeStatus: AssignedStatus, unverified: boolean): AssignedStatus {
    if (a.identity.type !== 0 || a.identity.resourceID === undefined) return nodeStatus;
    const source = this.sourceOf(a);
    if (this.credentials === undefined) {
      if (source !== "Federated" || unverified) return nodeStatus;
      return {
        status: "Failed",
        reason: REASONS.notConfigured,
        message:
          `AzureIdentity ${a.identity.metadata.name} uses tokenSource Federated, but this reconciler has no ` +
          `service-account issuer (${this.deps.options.federationUnavailable ?? "federation not configured"}); ` +
          `set --federation-issuer`,
        tokenSource: "Federated",
      };
    }
    const current = this.currentStatus(a);
    if (source === "NodeAssigned" && sourceKey(current) === "NodeAssigned") return nodeStatus;
    return sourcedStatus({
      nodeStatus,
      source,
      credential: this.credentials.state(resourceIdKey(a.identity.resourceID)),
      current,
      unverified,
    });
  }
}
