// A minimal Deployment → ReplicaSet → Pod controller, so `kubectl apply` of a Deployment ends
// in pods that were admitted through the pod webhooks with generateName, as in a real cluster.
// Rollouts are "recreate": the ReplicaSet of the current template is scaled to spec.replicas
// and older ones to zero. Level-triggered: events enqueue keys, reconciles read the store.
import { createHash } from "node:crypto";
import type { KubeApi, RequestCtx } from "../api.ts";
import { ApiError } from "../status.ts";
import { asArray, canonicalJson, clone, getPath, isRecord, type KObject, type ResourceDef } from "../types.ts";
import { KeyQueue } from "./queue.ts";

const ctxOf = (name: string): RequestCtx => ({
  user: {
    username: `system:serviceaccount:kube-system:${name}`,
    groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
  },
});
const DEPLOYMENT_CTRL = ctxOf("deployment-controller");
const REPLICASET_CTRL = ctxOf("replicaset-controller");
const HASH_LABEL = "pod-template-hash";

/** The pod-template-hash label value of a template (stable, 10 safe characters). */
export function templateHash(template: unknown): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  const digest = createHash("sha256")
    .update(JSON.stringify(template ?? {}))
    .digest();
  return [...digest.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join("");
}

const controllerOf = (o: KObject): string | undefined =>
  o.metadata.ownerReferences?.find((r) => r.controller === true)?.uid;
const replicas = (o: KObject): number => {
  const r = getPath(o, "spec.replicas");
  return typeof r === "number" ? r : 1;
};
const isReady = (p: KObject): boolean => {
  const conds = getPath(p, "status.conditions");
  return Array.isArray(conds) && conds.some((c) => isRecord(c) && c.type === "Ready" && c.status === "True");
};
const ownerRef = (o: KObject): NonNullable<KObject["metadata"]["ownerReferences"]>[number] => ({
  apiVersion: o.apiVersion!,
  kind: o.kind!,
  name: o.metadata.name!,
  uid: o.metadata.uid!,
  controller: true,
  blockOwnerDeletion: true,
});

export function startWorkloadControllers(api: KubeApi, onError: (what: string, err: unknown) => void): () => void {
  const { store, registry } = api;
  const deployDef = registry.byResourceKey("deployments.apps")!;
  const rsDef = registry.byResourceKey("replicasets.apps")!;
  const podDef = registry.byResourceKey("pods")!;

  const owned = (def: ResourceDef, owner: KObject): KObject[] =>
    store
      .dependentsOf(owner.metadata.uid!)
      .filter((r) => r.resource === (def === podDef ? "pods" : "replicasets.apps"))
      .map((r) => store.get(def, r.namespace, r.name))
      .filter((o): o is KObject => o !== undefined && controllerOf(o) === owner.metadata.uid);

  const writeStatus = async (
    def: ResourceDef,
    o: KObject,
    status: Record<string, unknown>,
    ctx: RequestCtx,
  ): Promise<void> => {
    if (canonicalJson(o.status ?? {}) === canonicalJson(status)) return;
    await api.update(def, o.metadata.namespace!, o.metadata.name!, { ...clone(o), status }, ctx, "status");
  };

  const reconcileRs = async (key: string): Promise<void> => {
    const [ns, name] = key.split("/", 2) as [string, string];
    const rs = store.get(rsDef, ns, name);
    if (rs === undefined || rs.metadata.deletionTimestamp !== undefined) return;
    const pods = owned(podDef, rs).filter((p) => p.metadata.deletionTimestamp === undefined);
    const want = replicas(rs);
    const template = getPath(rs, "spec.template");
    for (let i = pods.length; i < want; i++) {
      const t = isRecord(template) ? clone(template) : {};
      const meta = isRecord(t.metadata) ? t.metadata : {};
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { ...meta, generateName: `${name}-`, namespace: ns, ownerReferences: [ownerRef(rs)] },
        spec: t.spec,
      };
      await api.create(podDef, ns, pod, REPLICASET_CTRL);
    }
    for (const p of pods.slice(want))
      await api.delete(podDef, ns, p.metadata.name!, { propagationPolicy: "Background" }, REPLICASET_CTRL);
    const now = owned(podDef, rs).filter((p) => p.metadata.deletionTimestamp === undefined);
    const ready = now.filter(isReady).length;
    await writeStatus(
      rsDef,
      rs,
      {
        replicas: now.length,
        fullyLabeledReplicas: now.length,
        readyReplicas: ready,
        availableReplicas: ready,
        observedGeneration: rs.metadata.generation ?? 1,
      },
      REPLICASET_CTRL,
    );
  };

  const reconcileDeployment = async (key: string): Promise<void> => {
    const [ns, name] = key.split("/", 2) as [string, string];
    const d = store.get(deployDef, ns, name);
    if (d === undefined || d.metadata.deletionTimestamp !== undefined) return;
    const template = clone(getPath(d, "spec.template")) as Record<string, unknown> | undefined;
    const hash = templateHash(template);
    const rsName = `${name}-${hash}`;
    const sets = owned(rsDef, d);
    const current = sets.find((s) => s.metadata.name === rsName);
    if (current === undefined) {
      const t = isRecord(template) ? template : {};
      const meta = isRecord(t.metadata) ? t.metadata : {};
      const labels = { ...(isRecord(meta.labels) ? (meta.labels as Record<string, string>) : {}), [HASH_LABEL]: hash };
      const sel = isRecord(getPath(d, "spec.selector"))
        ? clone(getPath(d, "spec.selector") as Record<string, unknown>)
        : {};
      sel.matchLabels = { ...(isRecord(sel.matchLabels) ? sel.matchLabels : {}), [HASH_LABEL]: hash };
      const rs = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: { name: rsName, namespace: ns, labels, ownerReferences: [ownerRef(d)] },
        spec: { replicas: replicas(d), selector: sel, template: { ...t, metadata: { ...meta, labels } } },
      };
      await api.create(rsDef, ns, rs, DEPLOYMENT_CTRL);
    } else if (replicas(current) !== replicas(d)) {
      await api.patch(
        rsDef,
        ns,
        rsName,
        "application/merge-patch+json",
        { spec: { replicas: replicas(d) } },
        DEPLOYMENT_CTRL,
      );
    }
    for (const old of sets) {
      if (old.metadata.name !== rsName && replicas(old) !== 0)
        await api.patch(
          rsDef,
          ns,
          old.metadata.name!,
          "application/merge-patch+json",
          { spec: { replicas: 0 } },
          DEPLOYMENT_CTRL,
        );
    }
    const latest = owned(rsDef, d);
    const sum = (path: string): number => latest.reduce((n, s) => n + (Number(getPath(s, path)) || 0), 0);
    const cur = latest.find((s) => s.metadata.name === rsName);
    const available = sum("status.availableReplicas");
    const status: Record<string, unknown> = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sum("status.replicas"),
      updatedReplicas: Number(getPath(cur, "status.replicas")) || 0,
      readyReplicas: sum("status.readyReplicas"),
      availableReplicas: available,
      conditions: [
        {
          type: "Available",
          status: available >= replicas(d) ? "True" : "False",
          reason: available >= replicas(d) ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
          message:
            available >= replicas(d)
              ? "Deployment has minimum availability."
              : "Deployment does not have minimum availability.",
        },
        {
          type: "Progressing",
          status: "True",
          reason: "NewReplicaSetAvailable",
          message: `ReplicaSet "${rsName}" has successfully progressed.`,
        },
      ],
    };
    const prev = isRecord(d.status) ? d.status : {};
    const prevConds = asArray(prev.conditions);
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    (status.conditions as Array<Record<string, unknown>>).forEach((c) => {
      const p: unknown = prevConds.find((x) => isRecord(x) && x.type === c.type);
      const same = isRecord(p) && p.status === c.status && p.reason === c.reason;
      c.lastUpdateTime = same ? p.lastUpdateTime : stamp;
      c.lastTransitionTime = same ? p.lastTransitionTime : stamp;
    });
    await writeStatus(deployDef, d, status, DEPLOYMENT_CTRL);
  };

  const retryable = (err: unknown): boolean => err instanceof ApiError && (err.code === 409 || err.code === 404);
  const rsQueue: KeyQueue = new KeyQueue(reconcileRs, (key, err) =>
    retryable(err) ? rsQueue.add(key) : onError(`replicaset ${key}`, err),
  );
  const dQueue: KeyQueue = new KeyQueue(reconcileDeployment, (key, err) =>
    retryable(err) ? dQueue.add(key) : onError(`deployment ${key}`, err),
  );

  const ownerKey = (o: KObject, kind: string): string | undefined => {
    const ref = o.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === kind);
    return ref !== undefined ? `${o.metadata.namespace}/${ref.name}` : undefined;
  };
  const unsubscribe = store.onEvent((resource, ev) => {
    const o = ev.object;
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (resource === "deployments.apps" && ev.type !== "DELETED") dQueue.add(key);
    if (resource === "replicasets.apps") {
      if (ev.type !== "DELETED") rsQueue.add(key);
      const owner = ownerKey(o, "Deployment");
      if (owner !== undefined) dQueue.add(owner);
    }
    if (resource === "pods") {
      const owner = ownerKey(o, "ReplicaSet");
      if (owner !== undefined) rsQueue.add(owner);
    }
  });
  return () => {
    unsubscribe();
    rsQueue.stop();
    dQueue.stop();
  };
}
