// The control-plane work a real cluster does behind the API: CRDs become served resources
// and Established; every namespace gets its `kube-root-ca.crt` ConfigMap and `default`
// ServiceAccount; a deleted namespace is emptied, then removed; the garbage collector deletes
// (or orphans) dependents of a deleted owner and objects whose owners are all gone.
import type { KubeApi, RequestCtx } from "../api.ts";
import { crdResources, crdStatus } from "../crd.ts";
import { ApiError } from "../status.ts";
import type { StoreEvent } from "../store.ts";
import { clone, type KObject, type ResourceDef } from "../types.ts";
import { now } from "../api.ts";
import { detach } from "./queue.ts";

export const ROOT_CA_CONFIGMAP = "kube-root-ca.crt";

const sa = (name: string): RequestCtx => ({
  user: {
    username: `system:serviceaccount:kube-system:${name}`,
    groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
  },
});

const ignoreGone = (err: unknown): void => {
  if (err instanceof ApiError && (err.code === 404 || err.code === 409)) return;
  throw err;
};

export interface CoreControllerOptions {
  caPem: string;
  onError(what: string, err: unknown): void;
}

export function startCoreControllers(api: KubeApi, opts: CoreControllerOptions): () => void {
  const { registry, store } = api;
  const def = (key: string): ResourceDef => registry.byResourceKey(key)!;
  const crdDef = def("customresourcedefinitions.apiextensions.k8s.io");
  const nsDef = def("namespaces");
  const cmDef = def("configmaps");
  const saDef = def("serviceaccounts");
  const run = (what: string, fn: () => Promise<unknown>): void => detach(fn, (err) => opts.onError(what, err));

  const onCrd = (ev: StoreEvent): void => {
    const name = ev.object.metadata.name!;
    for (const d of registry.all()) {
      if (d.crdName === name) {
        registry.remove(d.group, d.version, d.plural);
        if (ev.type === "DELETED") store.dropResource(d);
      }
    }
    if (ev.type === "DELETED") return;
    for (const d of crdResources(ev.object)) registry.add(d);
    const conds = (ev.object.status as { conditions?: unknown[] } | undefined)?.conditions;
    if (conds === undefined || conds.length === 0) {
      // The CRD controllers accept names and establish the CRD just after it is stored.
      setImmediate(() => {
        const cur = store.get(crdDef, "", name);
        if (cur === undefined || cur.metadata.uid !== ev.object.metadata.uid) return;
        store.put(crdDef, { ...clone(cur), status: crdStatus(cur, now()) });
      });
    }
  };

  const ensureNamespaceDefaults = (ns: string): void => {
    run(`namespace ${ns} defaults`, async () => {
      const n = store.get(nsDef, "", ns);
      if (n === undefined || n.metadata.deletionTimestamp !== undefined) return;
      await api.ensure(
        cmDef,
        ns,
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: ROOT_CA_CONFIGMAP,
            namespace: ns,
            annotations: {
              "kubernetes.io/description":
                "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
            },
          },
          data: { "ca.crt": opts.caPem },
        },
        sa("root-ca-cert-publisher"),
      );
      await api.ensure(
        saDef,
        ns,
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns } },
        sa("service-account-controller"),
      );
    });
  };

  const finishNamespace = (ns: string): void => {
    const n = store.get(nsDef, "", ns);
    if (n?.metadata.deletionTimestamp === undefined) return;
    if (store.resourcesIn(ns).length === 0) store.remove(nsDef, "", ns);
  };

  const emptyNamespace = (ns: string): void => {
    run(`namespace ${ns} deletion`, async () => {
      for (const key of store.resourcesIn(ns)) {
        const d = registry.byResourceKey(key);
        if (d === undefined) continue;
        for (const o of store.list(d, ns)) {
          await api
            .delete(d, ns, o.metadata.name!, { propagationPolicy: "Background" }, sa("namespace-controller"))
            .catch(ignoreGone);
        }
      }
      finishNamespace(ns);
    });
  };

  const collect = (ev: StoreEvent): void => {
    const uid = ev.object.metadata.uid;
    if (uid === undefined) return;
    const policy = api.propagation.get(uid) ?? "Background";
    api.propagation.delete(uid);
    for (const ref of store.dependentsOf(uid)) {
      const d = registry.byResourceKey(ref.resource);
      if (d === undefined) continue;
      if (policy === "Orphan") {
        const o = store.get(d, ref.namespace, ref.name);
        if (o === undefined) continue;
        const c = clone(o);
        c.metadata.ownerReferences = (c.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (c.metadata.ownerReferences.length === 0) delete c.metadata.ownerReferences;
        store.put(d, c);
        continue;
      }
      run(`garbage collection of ${ref.resource} ${ref.namespace}/${ref.name}`, () =>
        api
          .delete(d, ref.namespace, ref.name, { propagationPolicy: "Background" }, sa("generic-garbage-collector"))
          .catch(ignoreGone),
      );
    }
  };

  /** An object created with owners that are all gone is garbage too. */
  const collectOrphan = (resource: string, o: KObject): void => {
    const refs = o.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    setImmediate(() => {
      if (refs.some((r) => store.byUidRef(r.uid) !== undefined)) return;
      const d = registry.byResourceKey(resource);
      const cur = d !== undefined ? store.get(d, o.metadata.namespace ?? "", o.metadata.name!) : undefined;
      if (d === undefined || cur?.metadata.uid !== o.metadata.uid) return;
      run(`garbage collection of ${resource} ${o.metadata.name}`, () =>
        api
          .delete(
            d,
            o.metadata.namespace ?? "",
            o.metadata.name!,
            { propagationPolicy: "Background" },
            sa("generic-garbage-collector"),
          )
          .catch(ignoreGone),
      );
    });
  };

  const onNamespaceEvent = (ev: StoreEvent): void => {
    const ns = ev.object.metadata.name!;
    if (ev.type === "ADDED") ensureNamespaceDefaults(ns);
    else if (
      ev.type === "MODIFIED" &&
      ev.object.metadata.deletionTimestamp !== undefined &&
      ev.old?.metadata.deletionTimestamp === undefined
    )
      emptyNamespace(ns);
  };

  const onNamespacedDelete = (resource: string, ev: StoreEvent): void => {
    const ns = ev.object.metadata.namespace;
    if (ns === undefined || ns === "") return;
    const n = store.get(nsDef, "", ns);
    if (n === undefined) return;
    if (n.metadata.deletionTimestamp !== undefined) {
      setImmediate(() => finishNamespace(ns));
      return;
    }
    const name = ev.object.metadata.name;
    if (
      (resource === "configmaps" && name === ROOT_CA_CONFIGMAP) ||
      (resource === "serviceaccounts" && name === "default")
    )
      ensureNamespaceDefaults(ns);
  };

  return store.onEvent((resource, ev) => {
    if (resource === "customresourcedefinitions.apiextensions.k8s.io") onCrd(ev);
    if (resource === "namespaces") onNamespaceEvent(ev);
    if (ev.type === "DELETED") {
      collect(ev);
      onNamespacedDelete(resource, ev);
    } else if (ev.type === "ADDED") {
      collectOrphan(resource, ev.object);
    }
  });
}
