// Writes AzureAssignedIdentity objects. The status goes through the status subresource when
// the CRD has one, else with the object (AAD Pod Identity's CRD had none); either way the
// reconciler does not need to know.
import type { KubeConfig } from "@kubernetes/client-node";
import { FIELD_MANAGER, GROUP, KINDS, VERSION } from "../model/constants.ts";
import type { AzureAssignedIdentity } from "../model/types.ts";
import { isAlreadyExists, isNotFound, kubeRequest, resourcePath } from "../kube/request.ts";

type Status = NonNullable<AzureAssignedIdentity["status"]>;

export interface AssignedIdentityWriter {
  create(obj: Record<string, unknown>): Promise<void>;
  replace(obj: Record<string, unknown>, current: AzureAssignedIdentity): Promise<void>;
  patchStatus(namespace: string, name: string, status: Status): Promise<void>;
  delete(current: AzureAssignedIdentity): Promise<void>;
}

const plural = KINDS.AzureAssignedIdentity.plural;
const path = (namespace: string, name?: string): string =>
  resourcePath({ group: GROUP, version: VERSION, plural, namespace, ...(name !== undefined ? { name } : {}) });
const nsName = (obj: Record<string, unknown>): { namespace: string; name: string } => {
  const m = obj.metadata as { namespace: string; name: string };
  return { namespace: m.namespace, name: m.name };
};

/**
 * The status as a merge patch: a field the new status lacks is sent as null, so it is removed
 * rather than kept from before (a reason after Failed, tokenSource Federated after moving back).
 */
export function mergeStatus(status: Status): Record<string, unknown> {
  return {
    reason: null,
    message: null,
    target: null,
    tokenSource: null,
    ...Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined)),
  };
}

export function kubeAssignedIdentityWriter(kc: KubeConfig): AssignedIdentityWriter {
  const query = { fieldManager: FIELD_MANAGER };
  const patchStatus = async (namespace: string, name: string, status: Status): Promise<void> => {
    const req = {
      method: "PATCH" as const,
      query,
      contentType: "application/merge-patch+json",
      body: { status: mergeStatus(status) },
    };
    try {
      await kubeRequest(kc, { ...req, path: `${path(namespace, name)}/status` });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // No status subresource: the status is part of the object.
      try {
        await kubeRequest(kc, { ...req, path: path(namespace, name) });
      } catch (e2) {
        if (!isNotFound(e2)) throw e2;
      }
    }
  };
  return {
    async create(obj) {
      const { namespace, name } = nsName(obj);
      let created: { status?: Status } | undefined;
      try {
        created = await kubeRequest<{ status?: Status }>(kc, {
          method: "POST",
          path: path(namespace),
          query,
          body: obj,
        });
      } catch (e) {
        if (isAlreadyExists(e)) return; // the cache was behind; the next reconcile compares
        throw e;
      }
      // With a status subresource the create drops the status: set it separately.
      const status = obj.status as Status | undefined;
      if (status !== undefined && created?.status?.status !== status.status) await patchStatus(namespace, name, status);
    },
    // A changed spec means another pod (same name, new UID) or another identity: the owner
    // reference changes too, so the object is recreated rather than updated.
    async replace(obj, current) {
      await this.delete(current);
      await this.create(obj);
    },
    patchStatus,
    async delete(current) {
      const namespace = current.metadata.namespace ?? "";
      try {
        await kubeRequest(kc, {
          method: "DELETE",
          path: path(namespace, current.metadata.name),
          body: { preconditions: current.metadata.uid !== undefined ? { uid: current.metadata.uid } : {} },
        });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
  };
}
