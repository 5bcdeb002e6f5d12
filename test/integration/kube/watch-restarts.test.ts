// The watch layer against a real kube-apiserver: a dropped connection is resumed from the
// last resourceVersion (what happened meanwhile is replayed, nothing is listed again), and an
// API server restart ends in 410 Gone and one relist that wakes nobody for what did not change.
import assert from "node:assert/strict";
import { startInformerCache, type CacheChange, type InformerCache } from "../../../src/kube/cache.ts";
import { kubeRequest, resourcePath } from "../../../src/kube/request.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import type { KubeConfig } from "@kubernetes/client-node";
import { startApiProxy, type ApiProxy } from "../../helpers/api-proxy.ts";
import { privateRealCluster, sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";
import { within } from "../../helpers/eventually.ts";

interface Cm {
  name: string;
  color: string;
}

const parseCm = (o: unknown) => {
  const cm = o as { metadata: { name: string }; data?: { color?: string } };
  return { ok: true as const, value: { name: cm.metadata.name, color: cm.data?.color ?? "" } };
};

const waitFor = <T>(fn: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> =>
  within(30_000, fn, what);

const cmPath = (ns: string, name?: string): string =>
  resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: ns, name });

function cmWriter(kc: KubeConfig, ns: string, label: string) {
  const body = (name: string, color: string, labelled = true) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, labels: labelled ? { watched: label } : {} },
    data: { color },
  });
  return {
    create: (name: string, color: string, labelled = true) =>
      kubeRequest(kc, { method: "POST", path: cmPath(ns), body: body(name, color, labelled) }),
    paint: (name: string, color: string) =>
      kubeRequest(kc, {
        method: "PATCH",
        path: cmPath(ns, name),
        contentType: "application/merge-patch+json",
        body: { data: { color } },
      }),
    remove: (name: string) => kubeRequest(kc, { method: "DELETE", path: cmPath(ns, name) }),
  };
}

function record(cache: InformerCache<Cm>): string[] {
  const seen: string[] = [];
  cache.on((c: CacheChange<Cm>) => seen.push(`${c.event} ${c.name}${c.value ? ` ${c.value.color}` : ""}`));
  return seen;
}

describe("src/kube watch restarts against a real API server", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let proxy: ApiProxy;
  let cache: InformerCache<Cm> | undefined;
  const ns = uniqueNamespace("watch");

  before(async () => {
    cp = await sharedRealCluster();
    await kubeRequest(cp.kc, {
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    });
    proxy = await startApiProxy(cp);
  });
  after(async () => {
    await cache?.stop();
    await proxy?.stop();
  });

  it("resumes a dropped watch from its resourceVersion: the missed changes arrive, nothing is relisted", async () => {
    const w = cmWriter(cp.kc, ns, "drop");
    await w.create("a", "red");
    await w.create("b", "blue");
    await w.create("c", "green");
    cache = await startInformerCache(proxy.kc, {
      group: "",
      version: "v1",
      plural: "configmaps",
      labelSelector: "watched=drop",
      parse: parseCm,
    });
    const seen = record(cache);
    await waitFor(() => (cache!.health().watching ? true : undefined), "the watch to open");

    proxy.breakAll();
    await waitFor(() => (cache!.health().watching ? undefined : true), "the drop to be noticed");
    await w.paint("a", "orange");
    await w.remove("b");
    await w.create("d", "black");
    await w.create("unwatched", "grey", false);
    proxy.restore();

    await waitFor(() => (cache!.get("d", ns) !== undefined ? true : undefined), "the missed changes");
    assert.deepEqual(seen, ["update a orange", "delete b", "add d black"]);
    const h = cache.health();
    assert.equal(h.watching, true);
    assert.equal(h.relists, 0, "a dropped connection must not cost a relist");
    assert.ok(h.restarts >= 1);
    assert.deepEqual(
      cache
        .list()
        .map((c) => `${c.name} ${c.color}`)
        .sort(),
      ["a orange", "c green", "d black"],
    );
  });
});

describe("src/kube watch restarts: an API server restart (410 Gone)", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let cache: InformerCache<Cm> | undefined;

  before(async () => {
    cp = await privateRealCluster({ controllerManager: false });
  });
  after(async () => {
    await cache?.stop();
    await cp?.stop();
  });

  it("relists after the restart, waking nobody for what did not change, and keeps watching", async () => {
    const w = cmWriter(cp.kc, "default", "restart");
    for (const n of ["a", "b", "c"]) await w.create(n, "red");
    cache = await startInformerCache(cp.kc, {
      group: "",
      version: "v1",
      plural: "configmaps",
      labelSelector: "watched=restart",
      parse: parseCm,
    });
    const seen = record(cache);
    // Moves the server past the informer's resourceVersion, so its resumed watch is too old
    // for the restarted server's fresh watch cache.
    await w.create("elsewhere", "grey", false);

    await cp.restartApiServer();
    await waitFor(() => (cache!.health().relists >= 1 && cache!.health().watching ? true : undefined), "a relist");
    assert.deepEqual(seen, [], "relisted objects with unchanged resourceVersions must not be events");

    await w.paint("b", "blue");
    await waitFor(
      () => (cache!.get("b", "default")?.color === "blue" ? true : undefined),
      "the watch after the relist",
    );
    assert.deepEqual(seen, ["update b blue"]);
    assert.equal(cache.list().length, 3);
  });
});
