// What a user-assigned identity really is, read from Resource Manager: an AzureIdentity's
// ClientID is only what its author wrote, and a ClientID of another team's identity would get
// that identity's tokens wherever both are on one VM. The reconciler assigns and reports an
// identity only once Resource Manager confirms its ClientID belongs to its resource ID. Behind
// a narrow interface (unit tests pass a fake); the production adapter is @azure/arm-msi.
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { TokenCredential } from "@azure/identity";
import { parseResourceId, resourceIdKey } from "../model/identity.ts";
import { toArmError } from "./arm-client.ts";
import { ArmError, isNotFound } from "./vm-client.ts";

export interface ManagedIdentityReader {
  /** The identity's client ID, as Resource Manager has it. Throws ArmError (404 when there is no such identity). */
  getClientId(resourceID: string): Promise<string>;
}

export interface IdentityReaderOptions {
  credential: TokenCredential;
  /** Resource Manager's URL, e.g. https://management.azure.com */
  endpoint: string;
  /** Token scope; default Resource Manager's. */
  scope?: string;
  /** Extra CA certificates (PEM) to trust, e.g. a stand-in's. */
  caPem?: string;
}

export function createArmIdentityReader(opts: IdentityReaderOptions): ManagedIdentityReader {
  const clients = new Map<string, ManagedServiceIdentityClient>();
  const client = (subscriptionId: string): ManagedServiceIdentityClient => {
    let c = clients.get(subscriptionId);
    if (c === undefined) {
      c = new ManagedServiceIdentityClient(opts.credential, subscriptionId, {
        // This SDK builds its URLs from $host, the pipeline from endpoint: both name Resource Manager.
        endpoint: opts.endpoint,
        $host: opts.endpoint,
        // The SDK defaults its scope to `<endpoint>/.default`; Resource Manager's audience is fixed.
        credentialScopes: [opts.scope ?? "https://management.azure.com/.default"],
        retryOptions: { maxRetries: 0 },
        ...(opts.caPem !== undefined ? { tlsOptions: { ca: opts.caPem } } : {}),
      });
      clients.set(subscriptionId, c);
    }
    return c;
  };
  return {
    async getClientId(resourceID) {
      const id = parseResourceId(resourceID);
      if (id === undefined) throw new ArmError(400, "InvalidResourceId", `not a user-assigned identity: ${resourceID}`);
      try {
        const got = await client(id.subscriptionId).userAssignedIdentities.get(id.resourceGroup, id.name);
        if (got.clientId === undefined)
          throw new ArmError(502, "NoClientId", `Resource Manager gave no clientId for ${resourceID}`);
        return got.clientId.toLowerCase();
      } catch (e) {
        throw toArmError(e);
      }
    },
  };
}

/** What Resource Manager said about an identity's resource ID. */
export type IdentityCheck =
  { kind: "ok"; clientId: string } | { kind: "not-found"; message: string } | { kind: "unreadable"; message: string };

/**
 * Resource Manager's answers per resource ID, trusted for `ttlMs` (an identity's client ID never
 * changes; a deleted identity is noticed within the TTL). Read failures are not remembered.
 */
export class IdentityChecks {
  private readonly known = new Map<string, { check: IdentityCheck; at: number }>();

  constructor(
    private readonly reader: ManagedIdentityReader,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Checks every resource ID not known (or stale); returns the number of Resource Manager reads. */
  async refresh(resourceIDs: Iterable<string>, concurrency = 8): Promise<number> {
    const todo = [...new Set([...resourceIDs].map(resourceIdKey))].filter((k) => {
      const hit = this.known.get(k);
      return hit === undefined || this.now() - hit.at >= this.ttlMs;
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) await this.read(todo[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    return todo.length;
  }

  private async read(key: string): Promise<void> {
    try {
      this.known.set(key, { check: { kind: "ok", clientId: await this.reader.getClientId(key) }, at: this.now() });
    } catch (e) {
      const message = e instanceof ArmError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
      if (isNotFound(e)) this.known.set(key, { check: { kind: "not-found", message }, at: this.now() });
      // Not remembered: asked again at the next reconcile. Meanwhile the identity stays unassigned.
      else this.known.set(key, { check: { kind: "unreadable", message }, at: 0 });
    }
  }

  get(resourceID: string): IdentityCheck | undefined {
    return this.known.get(resourceIdKey(resourceID))?.check;
  }
}
