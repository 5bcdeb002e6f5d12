// The narrow interface the reconciler needs for federated identity credentials, and the
// production adapter over @azure/arm-msi. Like the compute adapter, the SDK's retries are off:
// the reconciler owns retry policy (409 from concurrent writes, 429, 5xx) and counts each call.
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { TokenCredential } from "@azure/identity";
import { parseResourceId } from "../model/identity.ts";
import { toArmError } from "./arm-client.ts";
import { federatedCredentialId } from "./federation.ts";
import { ArmError, isNotFound } from "./vm-client.ts";

export interface FederatedCredentialSpec {
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface FederatedCredential extends FederatedCredentialSpec {
  /** ARM ID of the credential. */
  id: string;
  name: string;
}

export interface FederatedCredentialClient {
  /** The identity's credential of that name; undefined when there is none. Throws ArmError. */
  get(identityResourceId: string, name: string): Promise<FederatedCredential | undefined>;
  /** Creates or replaces it. Throws ArmError (409 while another write to the identity runs). */
  put(identityResourceId: string, name: string, spec: FederatedCredentialSpec): Promise<FederatedCredential>;
  /** Deletes it; gone already is success. Throws ArmError. */
  delete(identityResourceId: string, name: string): Promise<void>;
}

export interface FederatedClientOptions {
  credential: TokenCredential;
  /** Resource Manager's URL, e.g. https://management.azure.com */
  endpoint: string;
  scope?: string;
  caPem?: string;
}

export function createArmFederatedCredentialClient(opts: FederatedClientOptions): FederatedCredentialClient {
  const clients = new Map<string, ManagedServiceIdentityClient>();
  const client = (subscriptionId: string): ManagedServiceIdentityClient => {
    let c = clients.get(subscriptionId);
    if (c === undefined) {
      c = new ManagedServiceIdentityClient(opts.credential, subscriptionId, {
        endpoint: opts.endpoint,
        $host: opts.endpoint,
        credentialScopes: [opts.scope ?? "https://management.azure.com/.default"],
        retryOptions: { maxRetries: 0 },
        ...(opts.caPem !== undefined ? { tlsOptions: { ca: opts.caPem } } : {}),
      });
      clients.set(subscriptionId, c);
    }
    return c;
  };
  const ref = (identityResourceId: string) => {
    const id = parseResourceId(identityResourceId);
    if (id === undefined)
      throw new ArmError(400, "InvalidResourceId", `not a user-assigned identity: ${identityResourceId}`);
    return { ops: client(id.subscriptionId).federatedIdentityCredentials, rg: id.resourceGroup, name: id.name };
  };
  const toCredential = (
    identityResourceId: string,
    name: string,
    c: { id?: string; name?: string; issuer?: string; subject?: string; audiences?: string[] },
  ): FederatedCredential => ({
    id: c.id ?? federatedCredentialId(identityResourceId, name),
    name: c.name ?? name,
    issuer: c.issuer ?? "",
    subject: c.subject ?? "",
    audiences: c.audiences ?? [],
  });
  return {
    async get(identityResourceId, name) {
      const r = ref(identityResourceId);
      try {
        return toCredential(identityResourceId, name, await r.ops.get(r.rg, r.name, name));
      } catch (e) {
        const err = toArmError(e);
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async put(identityResourceId, name, spec) {
      const r = ref(identityResourceId);
      try {
        return toCredential(identityResourceId, name, await r.ops.createOrUpdate(r.rg, r.name, name, spec));
      } catch (e) {
        throw toArmError(e);
      }
    },
    async delete(identityResourceId, name) {
      const r = ref(identityResourceId);
      try {
        await r.ops.delete(r.rg, r.name, name);
      } catch (e) {
        const err = toArmError(e);
        if (!isNotFound(err)) throw err;
      }
    },
  };
}
