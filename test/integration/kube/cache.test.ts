import assert from "node:assert/strict";
import { startInformerCache, type InformerCache, type ParseResult } from "../../../src/kube/cache.ts";
import { isNotFound, kubeRequest, resourcePath } from "../../../src/kube/request.ts";
import { eventually } from "../../helpers/eventually.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";

interface Cm {
  namespace: string;
  name: string;
  color: string;
}

// A parser like the model's: refuses objects without data.color, so `invalid()` is exercised.
function parseCm(obj: unknown): ParseResult<Cm> {
  const o = obj as { metadata?: { name?: string; namespace?: string }; data?: Record<string, string> };
  const color = o.data?.color;
  if (color === undefined) return { ok: false, errors: [{ field: "data.color", message: "expected a string" }] };
  return { ok: true, value: { namespace: o.metadata?.namespace ?? "", name: o.metadata?.name ?? "", color } };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  await eventually(() => (cond() ? true : undefined), what);
}

const cmPath = (ns: string, name?: string): string =>
  resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: ns, name });

describe("src/kube informer cache against the playground API", () => {
  let cluster: TestCluster;
  let cache: InformerCache<Cm>;

  before(async () => {
    cluster = await startTestCluster({ simulateKubelet: false });
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: cmPath("default"),
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "first" }, data: { color: "red" } },
    });
    cache = await startInformerCache(cluster.kc, {
      group: "",
      version: "v1",
      plural: "configmaps",
      parse: parseCm,
      indexes: { color: (c) => [c.color] },
    });
  });
  after(async () => {
    await cache?.stop();
    await cluster?.stop();
  });

  it("resolves after the first list, with the objects already there", () => {
    assert.equal(cache.synced, true);
    assert.equal(cache.get("first", "default")?.color, "red");
  });

  it("follows creates, updates and deletes and keeps its index current", async () => {
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: cmPath("default"),
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "second" }, data: { color: "blue" } },
    });
    await waitFor(() => cache.get("second", "default") !== undefined, "second to arrive");
    assert.deepEqual(
      cache.byIndex("color", "blue").map((c) => c.name),
      ["second"],
    );

    await kubeRequest(cluster.kc, {
      method: "PATCH",
      path: cmPath("default", "second"),
      contentType: "application/merge-patch+json",
      body: { data: { color: "red" } },
    });
    await waitFor(() => cache.get("second", "default")?.color === "red", "second to turn red");
    assert.deepEqual(cache.byIndex("color", "blue"), []);
    assert.deepEqual(
      cache
        .byIndex("color", "red")
        .map((c) => c.name)
        .sort(),
      ["first", "second"],
    );

    await kubeRequest(cluster.kc, { method: "DELETE", path: cmPath("default", "second") });
    await waitFor(() => cache.get("second", "default") === undefined, "second to go");
    assert.deepEqual(
      cache.byIndex("color", "red").map((c) => c.name),
      ["first"],
    );
  });

  it("keeps objects the parser refuses out of the cache and reports why", async () => {
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: cmPath("default"),
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "colourless" }, data: {} },
    });
    await waitFor(() => cache.invalid().some((i) => i.name === "colourless"), "the invalid object to be reported");
    assert.equal(cache.get("colourless", "default"), undefined);
    assert.deepEqual(cache.invalid().find((i) => i.name === "colourless")?.errors, [
      { field: "data.color", message: "expected a string" },
    ]);
  });

  it("lists per namespace", async () => {
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: resourcePath({ group: "", version: "v1", plural: "namespaces" }),
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } },
    });
    await kubeRequest(cluster.kc, {
      method: "POST",
      path: cmPath("team-b"),
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "third" }, data: { color: "green" } },
    });
    await waitFor(() => cache.get("third", "team-b") !== undefined, "third to arrive");
    assert.deepEqual(
      cache.list("team-b").map((c) => c.name),
      ["third"],
    );
    assert.ok(cache.list().length >= 2);
  });

  it("relists after 410 Gone and tells listeners only what changed while it was away", async () => {
    const store = cluster.api.api.store;
    const def = cluster.api.api.registry.byResourceKey("configmaps")!;
    for (const [name, color] of [
      ["keep", "white"],
      ["repaint", "white"],
      ["drop", "white"],
    ])
      await kubeRequest(cluster.kc, {
        method: "POST",
        path: cmPath("default"),
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { color } },
      });
    await waitFor(() => cache.get("drop", "default") !== undefined, "the three to arrive");
    const seen: string[] = [];
    const off = cache.on((c) => seen.push(`${c.event} ${c.name}${c.value ? ` ${c.value.color}` : ""}`));
    const relists = cache.health().relists;
    // All in one tick, so the informer cannot see any of it as events: its watch ends, the
    // changes happen, and the history it would resume from is gone (410 Gone).
    store.closeWatches(def);
    const repaint = store.get(def, "default", "repaint")!;
    store.put(def, { ...repaint, data: { color: "black" } });
    store.remove(def, "default", "drop");
    store.put(def, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "new", namespace: "default" },
      data: { color: "blue" },
    });
    store.compact(def);

    await waitFor(() => cache.health().relists > relists, "the relist");
    off();
    assert.deepEqual(seen.sort(), ["add new blue", "delete drop", "update repaint black"]);
    assert.equal(cache.get("keep", "default")?.color, "white");
    assert.equal(cache.get("drop", "default"), undefined);
  });

  it("drops an update whose projection did not change: no event for what the program ignores", async () => {
    const seen: string[] = [];
    const off = cache.on((c) => seen.push(`${c.event} ${c.name}`));
    const patch = (data: Record<string, string>) =>
      kubeRequest(cluster.kc, {
        method: "PATCH",
        path: cmPath("default", "keep"),
        contentType: "application/merge-patch+json",
        body: { data },
      });
    await patch({ shade: "matte" }); // not in the projection
    await patch({ color: "grey" });
    await waitFor(() => cache.get("keep", "default")?.color === "grey", "the colour change");
    off();
    assert.deepEqual(seen, ["update keep"]);
  });

  it("turns a Status answer into an error callers can branch on", async () => {
    await assert.rejects(kubeRequest(cluster.kc, { path: cmPath("default", "nosuch") }), (e: unknown) => {
      assert.ok(isNotFound(e));
      assert.match((e as Error).message, /configmaps "nosuch" not found/);
      return true;
    });
  });

  it("refuses to start on a resource the server does not serve, with a clear error", async () => {
    await assert.rejects(
      startInformerCache(cluster.kc, {
        group: "example.com",
        version: "v1",
        plural: "widgets",
        parse: parseCm,
        syncTimeoutMs: 300,
      }),
      /could not list \/apis\/example\.com\/v1\/widgets/,
    );
  });
});
