// Keeps podid's one federated identity credential on each identity that needs it, and removes
// it from those that no longer do: level-triggered like the VM and scale-set side (the wanted
// set comes in, Resource Manager is read, the difference written), remembering what it saw for
// the Resource Manager cache time so a steady state costs no call. Only the credential named
// FEDERATION.credentialName is ever read, written or deleted.
import { FEDERATION } from "../model/constants.ts";
import type { Logger } from "../shared/log.ts";
import { PerKeyBackoff } from "./batch.ts";
import type { FederatedCredentialClient } from "./federated-client.ts";
import {
  credentialAction,
  missingCredential,
  refusedCredential,
  wantedCredential,
  type CredentialState,
  type FederationSettings,
} from "./federation.ts";
import { ArmError, isConflict, isThrottled, isTransient } from "./vm-client.ts";

export interface CredentialSyncDeps {
  client: FederatedCredentialClient;
  settings: FederationSettings;
  log: Logger;
  /** How long a credential seen ready is trusted without reading it again. */
  armCacheMs: number;
  /** How soon a credential that needs a person (missing, refused, the limit) is looked at again. */
  recheckMs: number;
  now: () => number;
  wakeAt: (at: number) => void;
  /** Throws when this replica no longer leads: no write after that. */
  checkLeading: () => void;
  concurrency?: number;
}

export interface CredentialCounts {
  credentialReads: number;
  credentialWrites: number;
  pending: number;
}

interface Known {
  resourceID: string;
  state: CredentialState;
  /** When it was last read or written (0: read again before relying on it). */
  at: number;
}

const NAME = FEDERATION.credentialName;

export class CredentialSync {
  private readonly known = new Map<string, Known>();
  private readonly backoff = new PerKeyBackoff();
  private readonly want;

  constructor(private readonly deps: CredentialSyncDeps) {
    this.want = wantedCredential(deps.settings);
  }

  /** What is known about the identity's credential (by resource ID key). */
  state(key: string): CredentialState | undefined {
    return this.known.get(key)?.state;
  }

  /**
   * Identities podid may have left a credential on although nothing wants it now (read at the
   * first reconcile after a start, when the memory of what it created is empty).
   */
  seed(candidates: ReadonlyMap<string, string>): void {
    for (const [k, id] of candidates)
      if (!this.known.has(k)) this.known.set(k, { resourceID: id, state: { kind: "pending" }, at: 0 });
  }

  /** Brings every identity's credential in line with `wanted` (resource ID key → resource ID). */
  async sync(wanted: ReadonlyMap<string, string>, counts: CredentialCounts): Promise<void> {
    const work: Array<() => Promise<void>> = [];
    for (const [k, id] of wanted) work.push(() => this.ensure(k, id, counts));
    for (const [k, kn] of this.known) if (!wanted.has(k)) work.push(() => this.remove(k, kn, counts));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) await work[next++]!();
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.concurrency ?? 4, work.length) }, worker));
  }

  private waiting(key: string, counts: CredentialCounts): boolean {
    const until = this.backoff.until(key, this.deps.now());
    if (until === undefined) return false;
    this.deps.wakeAt(until);
    counts.pending++;
    return true;
  }

  private async ensure(key: string, resourceID: string, counts: CredentialCounts): Promise<void> {
    const { now, settings } = this.deps;
    const hit = this.known.get(key);
    if (hit?.state.kind === "ready" && hit.at > 0 && now() - hit.at < this.deps.armCacheMs) return;
    if (hit?.state.kind === "failed" && hit.at > 0 && now() - hit.at < this.deps.recheckMs) {
      this.deps.wakeAt(hit.at + this.deps.recheckMs);
      return;
    }
    if (this.waiting(key, counts)) return;
    try {
      counts.credentialReads++;
      const actual = await this.deps.client.get(resourceID, NAME);
      const action = credentialAction(this.want, actual);
      if (action === "none") {
        this.set(key, resourceID, { kind: "ready", id: actual!.id });
        return;
      }
      if (!settings.manage) {
        this.set(key, resourceID, missingCredential(resourceID, this.want, actual));
        this.deps.wakeAt(now() + this.deps.recheckMs);
        return;
      }
      this.deps.checkLeading();
      counts.credentialWrites++;
      const written = await this.deps.client.put(resourceID, NAME, this.want);
      this.deps.log.info(
        { identity: resourceID, action, issuer: this.want.issuer },
        "federated identity credential written",
      );
      this.set(key, resourceID, { kind: "ready", id: written.id });
    } catch (e) {
      this.failed(key, resourceID, e, hit, counts);
    }
  }

  private async remove(key: string, kn: Known, counts: CredentialCounts): Promise<void> {
    if (!this.deps.settings.manage) {
      // The admin's credential: podid never deletes it.
      this.known.delete(key);
      return;
    }
    if (this.waiting(key, counts)) return;
    try {
      if (kn.state.kind !== "ready") {
        counts.credentialReads++;
        if ((await this.deps.client.get(kn.resourceID, NAME)) === undefined) {
          this.known.delete(key);
          return;
        }
      }
      this.deps.checkLeading();
      counts.credentialWrites++;
      await this.deps.client.delete(kn.resourceID, NAME);
      this.deps.log.info({ identity: kn.resourceID }, "federated identity credential deleted: no binding uses it");
      this.known.delete(key);
      this.backoff.succeeded(key);
    } catch (e) {
      this.failed(key, kn.resourceID, e, kn, counts, true);
    }
  }

  private set(key: string, resourceID: string, state: CredentialState): void {
    this.known.set(key, { resourceID, state, at: this.deps.now() });
    this.backoff.succeeded(key);
  }

  /** 409 (another write to the identity), 429 and 5xx are retried later; any other refusal needs a person. */
  private failed(
    key: string,
    resourceID: string,
    e: unknown,
    hit: Known | undefined,
    counts: CredentialCounts,
    removing = false,
  ): void {
    const now = this.deps.now();
    const throttled = isThrottled(e);
    if (throttled !== undefined || isConflict(e) || isTransient(e) || removing) {
      const until =
        throttled !== undefined
          ? this.backoff.throttled(key, throttled.retryAfterMs, now)
          : this.backoff.failed(key, now);
      this.deps.log.warn(
        { err: e, identity: resourceID, retryInMs: until - now },
        "federated identity credential: will retry",
      );
      this.deps.wakeAt(until);
      counts.pending++;
      // A credential seen ready stays usable meanwhile; anything else waits.
      if (hit?.state.kind !== "ready") this.known.set(key, { resourceID, state: { kind: "pending" }, at: 0 });
      else hit.at = 0;
      return;
    }
    const err = e instanceof ArmError ? e : new ArmError(0, "Unknown", e instanceof Error ? e.message : String(e));
    this.known.set(key, { resourceID, state: refusedCredential(resourceID, err.code, err.message), at: now });
    this.deps.wakeAt(now + this.deps.recheckMs);
  }
}
