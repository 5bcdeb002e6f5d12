// Production VmIdentityClient over @azure/arm-compute. The SDK's own retries are turned off:
// the reconciler owns retry policy per target (Retry-After on 429, backoff on 409/5xx), and
// counts every call, which it could not do if the SDK retried behind its back.
import { ComputeManagementClient } from "@azure/arm-compute";
import type { TokenCredential } from "@azure/identity";
import type { ArmIdentityState, IdentityPatch } from "./plan.ts";
import { identityKey, type OrchestrationMode, type Target } from "./target.ts";
import { ArmError, parseRetryAfter, type VmIdentityClient } from "./vm-client.ts";

export interface ArmClientOptions {
  credential: TokenCredential;
  /** Resource Manager's URL, e.g. https://management.azure.com */
  endpoint: string;
  /** Token scope; default: the SDK's (public cloud Resource Manager). */
  scope?: string;
  /** Extra CA certificates (PEM) to trust, e.g. a stand-in's. */
  caPem?: string;
  /** How often to poll a long-running PATCH. */
  pollIntervalMs?: number;
}

interface IdentityLike {
  type?: string;
  userAssignedIdentities?: Record<string, unknown>;
}

function toState(identity: IdentityLike | undefined): ArmIdentityState {
  const ua = new Map<string, string>();
  for (const id of Object.keys(identity?.userAssignedIdentities ?? {})) ua.set(identityKey(id), id);
  return { type: identity?.type, userAssigned: ua };
}

/** Reduces an SDK failure (RestError or a network error) to an ArmError. */
export function toArmError(e: unknown): ArmError {
  if (e instanceof ArmError) return e;
  const r = (typeof e === "object" && e !== null ? e : {}) as {
    statusCode?: number;
    code?: string;
    message?: string;
    response?: { headers?: { get?: (name: string) => string | undefined } };
  };
  const retryAfter = parseRetryAfter(r.response?.headers?.get?.("retry-after"));
  return new ArmError(r.statusCode ?? 0, r.code ?? "Unknown", r.message ?? String(e), retryAfter);
}

export function createArmVmIdentityClient(opts: ArmClientOptions): VmIdentityClient {
  const clients = new Map<string, ComputeManagementClient>();
  const client = (subscriptionId: string): ComputeManagementClient => {
    let c = clients.get(subscriptionId);
    if (c === undefined) {
      c = new ComputeManagementClient(opts.credential, subscriptionId, {
        endpoint: opts.endpoint,
        retryOptions: { maxRetries: 0 },
        ...(opts.scope !== undefined ? { credentials: { scopes: [opts.scope] } } : {}),
        ...(opts.caPem !== undefined ? { tlsOptions: { ca: opts.caPem } } : {}),
      });
      clients.set(subscriptionId, c);
    }
    return c;
  };
  const poll = { updateIntervalInMs: opts.pollIntervalMs ?? 2000 };
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw toArmError(e);
    }
  };

  return {
    async getIdentities(t: Target) {
      const c = client(t.subscriptionId);
      const res = await call(() =>
        t.kind === "vmss"
          ? c.virtualMachineScaleSets.get(t.resourceGroup, t.name)
          : c.virtualMachines.get(t.resourceGroup, t.name),
      );
      return toState(res.identity);
    },
    async patchIdentities(t: Target, patch: IdentityPatch) {
      const c = client(t.subscriptionId);
      // `null` entries remove an identity; the SDK's serializer passes them through as is.
      const identity = patch as unknown as {
        type: IdentityPatch["type"];
        userAssignedIdentities?: Record<string, object>;
      };
      const res = await call(() =>
        t.kind === "vmss"
          ? c.virtualMachineScaleSets.beginUpdateAndWait(t.resourceGroup, t.name, { identity }, poll)
          : c.virtualMachines.beginUpdateAndWait(t.resourceGroup, t.name, { identity }, poll),
      );
      return res.identity === undefined ? undefined : toState(res.identity);
    },
    async getOrchestrationMode(subscriptionId, resourceGroup, scaleSet): Promise<OrchestrationMode> {
      const res = await call(() => client(subscriptionId).virtualMachineScaleSets.get(resourceGroup, scaleSet));
      return res.orchestrationMode === "Flexible" ? "Flexible" : "Uniform";
    },
  };
}
