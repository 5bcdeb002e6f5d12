// The reconcile: read the caches, compute desired state (desired.ts), bring each VM or scale
// set in line (plan.ts) with as few Resource Manager writes as possible, then make the
// AzureAssignedIdentity objects say what happened. Level-triggered: it never looks at which
// event woke it, so running it twice on the same state writes nothing the second time.
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";
import type { EventRecorder } from "../kube/events.ts";
import { BINDING_LABEL, type TokenSourceName } from "../model/constants.ts";
import type { Logger } from "../shared/log.ts";
import type { AssignedIdentityWriter } from "./assigned-writer.ts";
import { PerKeyBackoff } from "./batch.ts";
import {
  assignedIdentityObject,
  assignmentStatus,
  clientIdStatus,
  desiredState,
  desiredTargets,
  diffAssigned,
  type AssignedStatus,
  type DesiredAssignment,
  type NodeTarget,
  type NotAdmitted,
} from "./desired.ts";
import { FederatedAssignments, FLIP_SETTLE_MS, flipsSource } from "./federated-assignments.ts";
import type { FederatedCredentialClient } from "./federated-client.ts";
import type { FederationSettings } from "./federation.ts";
import { IdentityChecks, type IdentityCheck, type ManagedIdentityReader } from "./identity-reader.ts";
import type { NamespaceInfo, NodeInfo, PodInfo } from "./kube-objects.ts";
import type { ReconcilerMetrics } from "./metrics.ts";
import { applyPatch, buildPatches, planTarget, type ArmIdentityState, type OwnedEntry } from "./plan.ts";
import type { OwnershipRecord, OwnershipStore } from "./records.ts";
import {
  identityKey,
  parseProviderId,
  targetFor,
  targetFromId,
  type OrchestrationMode,
  type Target,
} from "./target.ts";
import { invalidIdentities, isNotFound, isThrottled, type VmIdentityClient } from "./vm-client.ts";

export interface ReadCache<T> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
}

export interface Sources {
  pods: ReadCache<PodInfo>;
  nodes: ReadCache<NodeInfo>;
  namespaces: ReadCache<NamespaceInfo>;
  identities: ReadCache<AzureIdentity>;
  bindings: ReadCache<AzureIdentityBinding>;
  exceptions: ReadCache<AzurePodIdentityException>;
  policies: ReadCache<AzurePodIdentityPolicy>;
  assigned: ReadCache<AzureAssignedIdentity>;
}

export interface ControllerOptions {
  graceMs: number;
  /** How long a Resource Manager read is trusted. */
  armCacheMs: number;
  /** How long an identity Resource Manager refused is left out. */
  invalidRetryMs: number;
  /** Targets written in parallel. */
  concurrency?: number;
  now?: () => number;
  /** Token source of identities that do not choose one (`--default-token-source`). */
  defaultTokenSource?: TokenSourceName;
  /** Federation's issuer, namespace and whether podid writes credentials; undefined: not configured. */
  federation?: FederationSettings;
  /** Why federation is not configured (e.g. the issuer could not be discovered), for Failed statuses. */
  federationUnavailable?: string;
  /** How soon a credential that needs a person (missing, refused, the limit) is read again. */
  credentialRecheckMs?: number;
}

export interface ControllerDeps {
  sources: Sources;
  arm: VmIdentityClient;
  /** Reads a managed identity's client ID from Resource Manager, to check what AzureIdentities claim. */
  identities: ManagedIdentityReader;
  /** Federated identity credentials (@azure/arm-msi); required when `options.federation` is set. */
  credentials?: FederatedCredentialClient;
  records: OwnershipStore;
  assigned: AssignedIdentityWriter;
  events?: EventRecorder;
  metrics: ReconcilerMetrics;
  log: Logger;
  options: ControllerOptions;
  /** Asks for another reconcile at this time (grace period or backoff ends). */
  wakeAt: (at: number) => void;
  /** Aborted when this replica stops leading: no write starts after that. */
  signal?: AbortSignal;
}

export interface ReconcileResult {
  assignments: number;
  targets: number;
  armWrites: number;
  armReads: number;
  /** Managed identities read from Resource Manager to check their ClientID. */
  identityReads: number;
  /** Targets not converged: waiting for a retry or a grace period. */
  pending: number;
  /** Federated identity credentials read, and written (PUT or DELETE). */
  credentialReads: number;
  credentialWrites: number;
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The Event message when an Assigned pod moves between token sources. */
function sourceChanged(a: DesiredAssignment, after: AssignedStatus): string {
  const how = after.tokenSource === "Federated" ? "federation" : `its node (${after.target ?? ""})`;
  return `identity ${a.identity.metadata.name}: tokens now come from ${how}`;
}

/** Where an Assigned status says the tokens come from, for its Event. */
function whereAssigned(s: AssignedStatus): string {
  if (s.tokenSource === "Federated") return ` by federation (credential ${s.target ?? ""})`;
  return s.target !== undefined ? ` on ${s.target}` : "";
}

export class Controller {
  /** Ownership records; loaded at the first reconcile, and again after a write failed. */
  private records: Map<string, OwnershipRecord> | undefined;
  private recordsStale = false;
  /** Last known identities per target; `at` is when it was read or written (0: re-read before use). */
  private readonly armCache = new Map<string, { state: ArmIdentityState; at: number }>();
  private readonly modes = new Map<string, OrchestrationMode>();
  private readonly unneeded = new Map<string, Map<string, number>>();
  /** identity key → why Resource Manager refused it, and until when it is left out */
  private readonly rejected = new Map<string, { reason: string; until: number }>();
  private readonly backoff = new PerKeyBackoff();
  private readonly now: () => number;
  private readonly checks: IdentityChecks;
  /** Pods already told they need a restart for the identities named (pod uid and names). */
  private readonly toldRestart = new Set<string>();
  /** Token sources: the federated identity credentials and the moves between sources. */
  private readonly federation: FederatedAssignments;

  constructor(private readonly deps: ControllerDeps) {
    this.now = deps.options.now ?? Date.now;
    this.checks = new IdentityChecks(deps.identities, deps.options.armCacheMs, this.now);
    this.federation = new FederatedAssignments({
      sources: deps.sources,
      options: deps.options,
      ...(deps.credentials !== undefined ? { client: deps.credentials } : {}),
      log: deps.log,
      now: this.now,
      wakeAt: deps.wakeAt,
      checkLeading: () => this.checkLeading(),
    });
  }

  async reconcile(): Promise<ReconcileResult> {
    const end = this.deps.metrics.reconcileDuration.startTimer();
    try {
      return await this.reconcileOnce();
    } finally {
      end();
    }
  }

  private async reconcileOnce(): Promise<ReconcileResult> {
    const { sources } = this.deps;
    if (this.records === undefined || this.recordsStale) {
      this.records = await this.deps.records.load();
      this.recordsStale = false;
    }
    const { assignments, notAdmitted } = desiredState({
      pods: sources.pods.list(),
      bindings: sources.bindings.list(),
      identities: sources.identities.list(),
      exceptions: sources.exceptions.list(),
      policies: sources.policies.list(),
      namespaces: sources.namespaces.list(),
    });
    const result: ReconcileResult = {
      assignments: assignments.length,
      targets: 0,
      armWrites: 0,
      armReads: 0,
      identityReads: 0,
      pending: 0,
      credentialReads: 0,
      credentialWrites: 0,
    };
    this.tellRestartNeeded(notAdmitted);
    // Pods share identity objects (one parsed AzureIdentity per namespace): check each once.
    const identities = new Set(assignments.map((a) => a.identity));
    result.identityReads = await this.checks.refresh(
      [...identities].flatMap((i) => (i.type === 0 && i.resourceID !== undefined ? [i.resourceID] : [])),
    );
    const checks = new Map([...identities].map((i) => [i, this.checks.get(i.resourceID ?? "")] as const));
    await this.federation.syncCredentials(assignments, result);
    const onNodes = this.federation.onNodes(assignments);
    const nodeTargets = await this.resolveNodes(onNodes, result);
    const needs = desiredTargets(onNodes, nodeTargets, (i) => clientIdStatus(i, checks.get(i)) === undefined);

    const now = this.now();
    for (const [k, r] of this.rejected) if (r.until <= now) this.rejected.delete(k);

    const keys = new Set<string>([...needs.keys(), ...this.records.keys()]);
    const work: Target[] = [];
    for (const key of keys) {
      const target = needs.get(key)?.target ?? targetFromId(this.records.get(key)?.targetId ?? "");
      if (target === undefined) continue;
      const until = this.backoff.until(key, now);
      if (until !== undefined) {
        this.deps.wakeAt(until);
        result.pending++;
        continue;
      }
      work.push(target);
    }
    result.targets = work.length;
    await pool(work, this.deps.options.concurrency ?? 8, (t) =>
      this.syncTarget(t, needs.get(t.key)?.identities ?? new Map<string, string>(), result),
    );
    await this.syncAssigned(assignments, nodeTargets, checks);
    this.deps.metrics.queueDepth.set(result.pending);
    return result;
  }

  /** Each node's target; a scale set's orchestration mode is read from Resource Manager once. */
  private async resolveNodes(
    assignments: DesiredAssignment[],
    result: ReconcileResult,
  ): Promise<Map<string, NodeTarget>> {
    const out = new Map<string, NodeTarget>();
    for (const nodeName of new Set(assignments.map((a) => a.pod.nodeName))) {
      const node = this.deps.sources.nodes.get(nodeName);
      if (node === undefined) {
        out.set(nodeName, { ok: false, error: "node not found" });
        continue;
      }
      const loc = parseProviderId(node.providerID);
      if (!loc.ok) {
        out.set(nodeName, { ok: false, error: loc.error });
        continue;
      }
      let mode: OrchestrationMode | undefined;
      if (loc.value.kind === "vmss") {
        const ssKey = `${loc.value.subscriptionId}/${loc.value.resourceGroup}/${loc.value.scaleSet}`.toLowerCase();
        mode = this.modes.get(ssKey);
        if (mode === undefined) {
          try {
            result.armReads++;
            mode = await this.deps.arm.getOrchestrationMode(
              loc.value.subscriptionId,
              loc.value.resourceGroup,
              loc.value.scaleSet,
            );
            this.modes.set(ssKey, mode);
          } catch (e) {
            this.deps.log.warn(
              { err: e, node: nodeName },
              "cannot read the scale set's orchestration mode; will retry",
            );
            continue;
          }
        }
      }
      out.set(nodeName, { ok: true, target: targetFor(loc.value, mode) });
    }
    return out;
  }

  private async read(t: Target, result: ReconcileResult): Promise<ArmIdentityState> {
    result.armReads++;
    const state = await this.deps.arm.getIdentities(t);
    this.armCache.set(t.key, { state, at: this.now() });
    return state;
  }

  /** Every write goes through here first: a replica that stopped leading writes nothing more. */
  private checkLeading(): void {
    if (this.deps.signal?.aborted === true) throw new Error("stopped leading: write not sent");
  }

  private async saveRecord(rec: OwnershipRecord): Promise<void> {
    this.checkLeading();
    let saved: OwnershipRecord;
    try {
      saved = await this.deps.records.save(rec);
    } catch (e) {
      // Most likely a conflict: someone (a previous leader) wrote since we read. Read them all again.
      this.recordsStale = true;
      throw e;
    }
    if (saved.owned.size === 0) this.records!.delete(rec.targetId.toLowerCase());
    else this.records!.set(rec.targetId.toLowerCase(), saved);
  }

  /** Brings one VM or scale set in line; failures back off this target only. */
  private async syncTarget(t: Target, desired: Map<string, string>, result: ReconcileResult): Promise<void> {
    try {
      await this.syncTargetOrThrow(t, desired, result);
      this.backoff.succeeded(t.key);
    } catch (e) {
      // Keep the last known state for the statuses, but read it again before relying on it.
      const cached = this.armCache.get(t.key);
      if (cached !== undefined) cached.at = 0;
      const now = this.now();
      const throttled = isThrottled(e);
      if (isNotFound(e)) {
        // The VM or scale set is gone, and what podid added to it with it.
        this.deps.log.info({ target: t.id }, "target no longer exists; dropping its ownership record");
        const rec = this.records?.get(t.key);
        if (rec !== undefined) await this.saveRecord({ ...rec, owned: new Map() }).catch(() => undefined);
        this.armCache.delete(t.key);
        this.backoff.failed(t.key, now);
        return;
      }
      const until =
        throttled !== undefined
          ? this.backoff.throttled(t.key, throttled.retryAfterMs, now)
          : this.backoff.failed(t.key, now);
      this.deps.log.warn({ err: e, target: t.id, retryInMs: until - now }, "target not converged; will retry");
      result.pending++;
      this.deps.wakeAt(until);
    }
  }

  private async syncTargetOrThrow(t: Target, desired: Map<string, string>, result: ReconcileResult): Promise<void> {
    const cached = this.armCache.get(t.key);
    let fresh = cached === undefined || cached.at === 0 || this.now() - cached.at >= this.deps.options.armCacheMs;
    let state = fresh ? await this.read(t, result) : cached!.state;
    const owned = (): OwnershipRecord => this.records!.get(t.key) ?? { targetId: t.id, owned: new Map() };
    const updateOwned = async (change: (m: Map<string, OwnedEntry>) => void): Promise<void> => {
      const rec = owned();
      const next = new Map(rec.owned);
      change(next);
      await this.saveRecord({ ...rec, owned: next });
    };

    for (let attempt = 0; ; attempt++) {
      const plan = planTarget({
        desired,
        actual: state,
        owned: owned().owned,
        unneededSince: this.unneeded.get(t.key) ?? new Map(),
        rejected: new Set(this.rejected.keys()),
        now: this.now(),
        graceMs: this.deps.options.graceMs,
      });
      this.unneeded.set(t.key, plan.unneededSince);
      if (plan.wakeAt !== undefined) {
        this.deps.wakeAt(plan.wakeAt);
        result.pending++;
      }
      if (plan.add.size === 0 && plan.remove.size === 0) {
        if (plan.release.length > 0) await updateOwned((m) => plan.release.forEach((k) => m.delete(k)));
        return;
      }
      // About to write: make sure Resource Manager really differs (skip when it already matches).
      if (!fresh) {
        state = await this.read(t, result);
        fresh = true;
        continue;
      }
      if (plan.claim.size > 0) {
        const since = new Date(this.now()).toISOString();
        await updateOwned((m) => plan.claim.forEach((id, k) => m.set(k, { id, since })));
      }
      const refused = await this.write(t, state, plan.add, plan.remove, result);
      const after = this.armCache.get(t.key)!.state;
      state = after;
      if (plan.remove.size > 0) {
        await updateOwned((m) => {
          for (const k of plan.remove.keys()) if (!after.userAssigned.has(k)) m.delete(k);
          for (const k of plan.release) m.delete(k);
        });
      }
      // An identity Resource Manager refused is left out; the rest goes again at once.
      if (!refused || attempt > desired.size) return;
    }
  }

  /**
   * Sends the PATCHes for one target. Returns true when Resource Manager refused an identity
   * (now in `rejected`), so the caller plans again without it.
   */
  private async write(
    t: Target,
    before: ArmIdentityState,
    add: Map<string, string>,
    remove: Map<string, string>,
    result: ReconcileResult,
  ): Promise<boolean> {
    let state = before;
    for (const patch of buildPatches(state, add, remove)) {
      this.checkLeading();
      try {
        result.armWrites++;
        const after = await this.deps.arm.patchIdentities(t, patch);
        state = after ?? applyPatch(state, patch);
        this.armCache.set(t.key, { state, at: this.now() });
      } catch (e) {
        const requested = Object.keys(patch.userAssignedIdentities ?? {}).map(identityKey);
        const bad = invalidIdentities(e, requested);
        if (bad === undefined) throw e;
        const reason = e instanceof Error ? e.message : String(e);
        for (const k of bad) this.rejected.set(k, { reason, until: this.now() + this.deps.options.invalidRetryMs });
        this.deps.log.warn(
          { target: t.id, identities: bad, reason },
          "Resource Manager refused identities; assigning the others without them",
        );
        this.armCache.set(t.key, { state, at: this.now() });
        return true;
      }
    }
    return false;
  }

  /** Makes the AzureAssignedIdentity objects match the assignments and what Resource Manager has. */
  private async syncAssigned(
    assignments: DesiredAssignment[],
    nodeTargets: Map<string, NodeTarget>,
    checks: ReadonlyMap<AzureIdentity, IdentityCheck | undefined>,
  ): Promise<void> {
    const rejected = new Map([...this.rejected].map(([k, v]) => [k, v.reason]));
    const onTarget = (nt: NodeTarget | undefined): ReadonlyMap<string, string> | undefined =>
      nt?.ok === true ? this.armCache.get(nt.target.key)?.state.userAssigned : undefined;
    const desired = assignments.map((a) => {
      const nt = nodeTargets.get(a.pod.nodeName);
      const identityCheck = checks.get(a.identity);
      const nodeStatus = assignmentStatus(a, { nodeTarget: nt, onTarget: onTarget(nt), rejected, identityCheck });
      return {
        a,
        status: this.federation.status(a, nodeStatus, clientIdStatus(a.identity, identityCheck) !== undefined),
      };
    });
    const diff = diffAssigned(desired, this.deps.sources.assigned.list());
    // A flip between token sources: look again soon, so what waits for it (releasing the node,
    // deleting the credential) follows once the cache shows it.
    if (diff.status.some((d) => flipsSource(d.current.status, d.status))) this.deps.wakeAt(this.now() + FLIP_SETTLE_MS);
    const w = this.deps.assigned;
    const tasks: Array<() => Promise<void>> = [
      ...diff.create.map((d) => async () => {
        await w.create(assignedIdentityObject(d.a, d.status));
        this.transition(d.a, undefined, d.status);
      }),
      ...diff.replace.map((d) => async () => {
        await w.replace(assignedIdentityObject(d.a, d.status), d.current);
        this.transition(d.a, d.current.status, d.status);
      }),
      ...diff.status.map((d) => async () => {
        await w.patchStatus(d.a.namespace, d.a.name, d.status);
        this.transition(d.a, d.current.status, d.status);
      }),
      ...diff.delete.map((x) => () => w.delete(x)),
    ];
    await pool(tasks, 16, async (task) => {
      try {
        this.checkLeading();
        await task();
      } catch (e) {
        this.deps.log.warn({ err: e }, "AzureAssignedIdentity write failed; the next reconcile retries");
      }
    });
  }

  /** One Event per pod and identity set: the pod must be recreated to use identities bound after its admission. */
  private tellRestartNeeded(notAdmitted: NotAdmitted[]): void {
    if (this.toldRestart.size > 50_000) this.toldRestart.clear();
    for (const { pod, identities } of notAdmitted) {
      const names = identities.map((i) => i.metadata.name).sort();
      const key = `${pod.uid}|${names.join(",")}`;
      if (this.toldRestart.has(key)) continue;
      this.toldRestart.add(key);
      const kept = (pod.admitted ?? []).map((i) => i.name).join(", ") || "none";
      this.deps.events?.record(
        { kind: "Pod", name: pod.name, namespace: pod.namespace, uid: pod.uid },
        "Warning",
        "IdentityNeedsRestart",
        `identity ${names.join(", ")} was bound to selector ${pod.labels[BINDING_LABEL] ?? ""} (or ` +
          `changed) after this pod was admitted; it keeps the identities it was admitted with (${kept}). ` +
          `Recreate the pod (e.g. kubectl rollout restart) to use ${names.join(", ")}.`,
      );
    }
  }

  /** Events and the latency metric when an assignment becomes Assigned or Failed. */
  private transition(a: DesiredAssignment, before: AssignedStatus | undefined, after: AssignedStatus): void {
    const pod = { kind: "Pod", name: a.pod.name, namespace: a.namespace, uid: a.pod.uid };
    if (before?.status === "Assigned" && after.status === "Assigned" && flipsSource(before, after)) {
      this.deps.events?.record(pod, "Normal", "IdentityTokenSourceChanged", sourceChanged(a, after));
      return;
    }
    if (before?.status === after.status && (before.reason ?? "") === (after.reason ?? "")) return;
    if (after.status === "Assigned") {
      if (a.pod.scheduledAt !== undefined)
        this.deps.metrics.assignmentLatency.observe(Math.max(0, this.now() - a.pod.scheduledAt) / 1000);
      this.deps.events?.record(
        pod,
        "Normal",
        "IdentityAssigned",
        `identity ${a.identity.metadata.name} (${a.identity.clientID}) assigned${whereAssigned(after)}`,
      );
    } else if (after.status === "Failed") {
      this.deps.metrics.assignmentFailures.inc({ reason: after.reason ?? "Failed" });
      this.deps.events?.record(
        pod,
        "Warning",
        "IdentityAssignmentFailed",
        `identity ${a.identity.metadata.name}: ${after.reason ?? "Failed"}: ${after.message ?? ""}`,
      );
    }
  }
}
