// podid's durable record of which identities it added to each VM or scale set: one ConfigMap
// per target in podid's namespace, written *before* the PATCH that adds them. A restarted
// reconciler or a new leader reads them back and knows what it may remove; what is not in a
// record was put there by someone else and is never touched. Writes carry the
// resourceVersion read, so a deposed leader's stale write fails with 409 instead of winning.
import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { FIELD_MANAGER, RECONCILER } from "../model/constants.ts";
import { isNotFound, kubeRequest, resourcePath } from "../kube/request.ts";
import type { OwnedEntry } from "./plan.ts";
import { identityKey } from "./target.ts";

export interface OwnershipRecord {
  /** ARM ID of the VM or scale set. */
  targetId: string;
  owned: Map<string, OwnedEntry>;
  resourceVersion?: string;
}

export interface OwnershipStore {
  /** Every record, by target key (lower-cased ARM ID). */
  load(): Promise<Map<string, OwnershipRecord>>;
  /** Creates, updates or (when nothing is owned any more) deletes the record. */
  save(rec: OwnershipRecord): Promise<OwnershipRecord>;
}

export const recordName = (targetKey: string): string =>
  RECONCILER.ownershipRecordPrefix + createHash("sha256").update(targetKey).digest("hex").slice(0, 32);

interface ConfigMap {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  data?: Record<string, string>;
}

export function toConfigMap(rec: OwnershipRecord, namespace: string): ConfigMap {
  const identities: Record<string, { since: string }> = {};
  for (const e of [...rec.owned.values()].sort((a, b) => a.id.localeCompare(b.id)))
    identities[e.id] = { since: e.since };
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: recordName(rec.targetId.toLowerCase()),
      namespace,
      labels: { [RECONCILER.ownershipRecordLabel]: "true", "app.kubernetes.io/managed-by": FIELD_MANAGER },
      ...(rec.resourceVersion !== undefined ? { resourceVersion: rec.resourceVersion } : {}),
    },
    data: { target: rec.targetId, identities: JSON.stringify(identities, null, 1) },
  };
}

/** Reads a record back; undefined (and the reason) for a ConfigMap that is not one. */
export function fromConfigMap(cm: ConfigMap): { ok: true; value: OwnershipRecord } | { ok: false; error: string } {
  const targetId = cm.data?.target;
  if (targetId === undefined || targetId === "")
    return { ok: false, error: `ConfigMap ${cm.metadata.name}: data.target missing` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(cm.data?.identities ?? "{}");
  } catch {
    return { ok: false, error: `ConfigMap ${cm.metadata.name}: data.identities is not JSON` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return {
      ok: false,
      error: `ConfigMap ${cm.metadata.name}: data.identities must be an object of identity ID → {since}`,
    };
  }
  const owned = new Map<string, OwnedEntry>();
  for (const [id, v] of Object.entries(parsed as Record<string, unknown>)) {
    const since =
      typeof v === "object" && v !== null && typeof (v as { since?: unknown }).since === "string"
        ? (v as { since: string }).since
        : "";
    owned.set(identityKey(id), { id, since });
  }
  return { ok: true, value: { targetId, owned, resourceVersion: cm.metadata.resourceVersion } };
}

export function createConfigMapOwnershipStore(
  kc: KubeConfig,
  namespace: string,
  onInvalid?: (error: string) => void,
): OwnershipStore {
  const path = resourcePath({ group: "", version: "v1", plural: "configmaps", namespace });
  return {
    async load() {
      const list = await kubeRequest<{ items: ConfigMap[] }>(kc, {
        path,
        query: { labelSelector: `${RECONCILER.ownershipRecordLabel}=true` },
      });
      const out = new Map<string, OwnershipRecord>();
      for (const cm of list.items) {
        const r = fromConfigMap(cm);
        if (r.ok) out.set(r.value.targetId.toLowerCase(), r.value);
        else onInvalid?.(r.error);
      }
      return out;
    },
    async save(rec) {
      const cm = toConfigMap(rec, namespace);
      const itemPath = `${path}/${encodeURIComponent(cm.metadata.name)}`;
      if (rec.owned.size === 0) {
        if (rec.resourceVersion !== undefined) {
          try {
            await kubeRequest(kc, {
              method: "DELETE",
              path: itemPath,
              body: { preconditions: { resourceVersion: rec.resourceVersion } },
            });
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
        }
        return { ...rec, resourceVersion: undefined };
      }
      const written =
        rec.resourceVersion === undefined
          ? await kubeRequest<ConfigMap>(kc, { method: "POST", path, query: { fieldManager: FIELD_MANAGER }, body: cm })
          : await kubeRequest<ConfigMap>(kc, {
              method: "PUT",
              path: itemPath,
              query: { fieldManager: FIELD_MANAGER },
              body: cm,
            });
      return { ...rec, resourceVersion: written.metadata.resourceVersion };
    },
  };
}

/** An in-memory store, for unit tests and the benchmark's cache-only runs. */
export function memoryOwnershipStore(): OwnershipStore & { records: Map<string, OwnershipRecord> } {
  const records = new Map<string, OwnershipRecord>();
  let rv = 0;
  return {
    records,
    load: () => Promise.resolve(new Map([...records].map(([k, v]) => [k, { ...v, owned: new Map(v.owned) }]))),
    save(rec) {
      const key = rec.targetId.toLowerCase();
      const cur = records.get(key);
      if (cur?.resourceVersion !== rec.resourceVersion) return Promise.reject(new Error(`conflict on record ${key}`));
      if (rec.owned.size === 0) {
        records.delete(key);
        return Promise.resolve({ ...rec, resourceVersion: undefined });
      }
      const saved = { ...rec, owned: new Map(rec.owned), resourceVersion: String(++rv) };
      records.set(key, saved);
      return Promise.resolve({ ...saved, owned: new Map(saved.owned) });
    },
  };
}
