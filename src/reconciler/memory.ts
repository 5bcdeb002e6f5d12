// In-memory stand-ins for the reconciler's Kubernetes side: read caches filled directly and an
// AzureAssignedIdentity writer that writes into one of them. The benchmark fills 150,000 pods
// this way (no API server in the loop), and unit tests of the controller use them; the
// integration tests use the real informers against the loopback API instead.
import type { AzureAssignedIdentity } from "../model/types.ts";
import type { AssignedIdentityWriter } from "./assigned-writer.ts";
import type { ReadCache } from "./controller.ts";
import { applyPatch, type ArmIdentityState, type IdentityPatch } from "./plan.ts";
import { identityKey, type OrchestrationMode, type Target } from "./target.ts";
import { resourceIdKey } from "../model/identity.ts";
import type { ManagedIdentityReader } from "./identity-reader.ts";
import { ArmError, type VmIdentityClient } from "./vm-client.ts";
import type { FederatedCredential, FederatedCredentialClient, FederatedCredentialSpec } from "./federated-client.ts";
import { federatedCredentialId } from "./federation.ts";

/** Resource Manager's user-assigned identities, in memory: resource ID → client ID; others are 404. */
export class MemoryIdentities implements ManagedIdentityReader {
  private readonly byId = new Map<string, string>();
  reads = 0;
  set(resourceID: string, clientId: string): void {
    this.byId.set(resourceIdKey(resourceID), clientId.toLowerCase());
  }
  getClientId(resourceID: string): Promise<string> {
    this.reads++;
    const c = this.byId.get(resourceIdKey(resourceID));
    return c !== undefined
      ? Promise.resolve(c)
      : Promise.reject(new ArmError(404, "ResourceNotFound", `The Resource '${resourceID}' was not found.`));
  }
}

export class MemoryCache<T> implements ReadCache<T> {
  private readonly byNs = new Map<string, Map<string, T>>();

  constructor(private readonly key: (v: T) => { name: string; namespace?: string }) {}

  put(v: T): void {
    const k = this.key(v);
    let m = this.byNs.get(k.namespace ?? "");
    if (m === undefined) this.byNs.set(k.namespace ?? "", (m = new Map<string, T>()));
    m.set(k.name, v);
  }

  delete(name: string, namespace?: string): void {
    this.byNs.get(namespace ?? "")?.delete(name);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.byNs.get(namespace)?.values() ?? [])];
    const out: T[] = [];
    for (const m of this.byNs.values()) for (const v of m.values()) out.push(v);
    return out;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.byNs.get(namespace ?? "")?.get(name);
  }

  get size(): number {
    let n = 0;
    for (const m of this.byNs.values()) n += m.size;
    return n;
  }
}

export const metaKey = (v: { metadata: { name: string; namespace?: string } }): { name: string; namespace?: string } =>
  v.metadata;

/** Writes AzureAssignedIdentities straight into a cache (what the informer would then show). */
export function memoryAssignedWriter(
  cache: MemoryCache<AzureAssignedIdentity>,
): AssignedIdentityWriter & { writes: number } {
  const w = {
    writes: 0,
    create(obj: Record<string, unknown>) {
      w.writes++;
      const o = obj as unknown as AzureAssignedIdentity;
      cache.put({ ...o, metadata: { ...o.metadata, labels: {}, annotations: {} } });
      return Promise.resolve();
    },
    async replace(obj: Record<string, unknown>) {
      await w.create(obj);
    },
    patchStatus(namespace: string, name: string, status: NonNullable<AzureAssignedIdentity["status"]>) {
      w.writes++;
      const cur = cache.get(name, namespace);
      if (cur !== undefined) cache.put({ ...cur, status });
      return Promise.resolve();
    },
    delete(current: AzureAssignedIdentity) {
      w.writes++;
      cache.delete(current.metadata.name, current.metadata.namespace);
      return Promise.resolve();
    },
  };
  return w;
}

/**
 * A Resource Manager that keeps identities in memory and counts calls: for the controller's
 * unit tests and the benchmark's CPU figure (no HTTP in the measurement). It refuses
 * identities not in `knownIdentities` (when given) the way Resource Manager does: the whole
 * request fails, naming one of them.
 */
export class MemoryArm implements VmIdentityClient {
  readonly resources = new Map<string, ArmIdentityState>();
  readonly modes = new Map<string, OrchestrationMode>();
  readonly calls = { get: 0, patch: 0, mode: 0 };
  readonly patches: Array<{ target: string; patch: IdentityPatch }> = [];
  knownIdentities: Set<string> | undefined;
  /** Errors thrown by the next calls, in order. */
  readonly failNext: ArmError[] = [];

  set(targetId: string, ids: string[], type = "UserAssigned"): void {
    this.resources.set(targetId.toLowerCase(), { type, userAssigned: new Map(ids.map((id) => [identityKey(id), id])) });
  }

  ids(targetId: string): string[] {
    return [...(this.resources.get(targetId.toLowerCase())?.userAssigned.values() ?? [])].sort();
  }

  getIdentities(t: Target): Promise<ArmIdentityState> {
    this.calls.get++;
    const s = this.resources.get(t.key);
    if (s === undefined)
      return Promise.reject(new ArmError(404, "ResourceNotFound", `The Resource '${t.id}' was not found.`));
    return Promise.resolve({ type: s.type, userAssigned: new Map(s.userAssigned) });
  }

  patchIdentities(t: Target, patch: IdentityPatch): Promise<ArmIdentityState | undefined> {
    this.calls.patch++;
    const fail = this.failNext.shift();
    if (fail !== undefined) return Promise.reject(fail);
    const s = this.resources.get(t.key);
    if (s === undefined)
      return Promise.reject(new ArmError(404, "ResourceNotFound", `The Resource '${t.id}' was not found.`));
    for (const [id, v] of Object.entries(patch.userAssignedIdentities ?? {})) {
      if (v !== null && this.knownIdentities !== undefined && !this.knownIdentities.has(identityKey(id))) {
        return Promise.reject(
          new ArmError(
            400,
            "FailedIdentityOperation",
            `Identity operation for resource '${t.id}' failed: Resource '${id}' was not found.`,
          ),
        );
      }
    }
    this.patches.push({ target: t.id, patch });
    const next = applyPatch(s, patch);
    this.resources.set(t.key, next);
    return Promise.resolve({ type: next.type, userAssigned: new Map(next.userAssigned) });
  }

  getOrchestrationMode(subscriptionId: string, resourceGroup: string, scaleSet: string): Promise<OrchestrationMode> {
    this.calls.mode++;
    return Promise.resolve(this.modes.get(`${subscriptionId}/${resourceGroup}/${scaleSet}`.toLowerCase()) ?? "Uniform");
  }
}

/**
 * Federated identity credentials in memory, for the controller's unit tests: identity key →
 * lower-cased name → credential. Counts calls; `failNext` errors are thrown by the next writes.
 */
export class MemoryFederatedCredentials implements FederatedCredentialClient {
  readonly byIdentity = new Map<string, Map<string, FederatedCredential>>();
  readonly calls = { get: 0, put: 0, delete: 0 };
  readonly failNext: ArmError[] = [];

  of(identityResourceId: string, name: string): FederatedCredential | undefined {
    return this.byIdentity.get(resourceIdKey(identityResourceId))?.get(name.toLowerCase());
  }

  set(identityResourceId: string, name: string, spec: FederatedCredentialSpec): FederatedCredential {
    const k = resourceIdKey(identityResourceId);
    let m = this.byIdentity.get(k);
    if (m === undefined) this.byIdentity.set(k, (m = new Map<string, FederatedCredential>()));
    const c = { ...spec, audiences: [...spec.audiences], name, id: federatedCredentialId(identityResourceId, name) };
    m.set(name.toLowerCase(), c);
    return c;
  }

  get(identityResourceId: string, name: string): Promise<FederatedCredential | undefined> {
    this.calls.get++;
    const c = this.of(identityResourceId, name);
    return Promise.resolve(c === undefined ? undefined : { ...c, audiences: [...c.audiences] });
  }

  put(identityResourceId: string, name: string, spec: FederatedCredentialSpec): Promise<FederatedCredential> {
    this.calls.put++;
    const fail = this.failNext.shift();
    if (fail !== undefined) return Promise.reject(fail);
    return Promise.resolve(this.set(identityResourceId, name, spec));
  }

  delete(identityResourceId: string, name: string): Promise<void> {
    this.calls.delete++;
    const fail = this.failNext.shift();
    if (fail !== undefined) return Promise.reject(fail);
    this.byIdentity.get(resourceIdKey(identityResourceId))?.delete(name.toLowerCase());
    return Promise.resolve();
  }
}
