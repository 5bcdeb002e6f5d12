import assert from "node:assert/strict";
import { parseFieldSelector, parseLabelSelector } from "../../../../src/playground/kube/selectors.ts";
import { Registry } from "../../../../src/playground/kube/resources.ts";
import { Store, type EventType } from "../../../../src/playground/kube/store.ts";
import type { KObject } from "../../../../src/playground/kube/types.ts";

const reg = new Registry();
const cms = reg.get("", "v1", "configmaps")!;
const cm = (name: string, labels: Record<string, string> = {}, ns = "default"): KObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns, uid: `uid-${name}`, labels },
});

function watcher(selector = "", ns?: string): { events: string[]; w: Parameters<Store["watch"]>[1] } {
  const events: string[] = [];
  return {
    events,
    w: {
      namespace: ns,
      labels: parseLabelSelector(selector),
      fields: parseFieldSelector("", "configmaps"),
      send: (t: EventType, o: KObject) => events.push(`${t} ${o.metadata.name} ${o.metadata.resourceVersion}`),
    },
  };
}

describe("playground kube store", () => {
  it("gives every write the next resourceVersion and indexes by namespace", () => {
    const s = new Store();
    const a = s.put(cms, cm("a"));
    const b = s.put(cms, cm("b", {}, "other"));
    assert.equal(Number(b.metadata.resourceVersion), Number(a.metadata.resourceVersion) + 1);
    assert.deepEqual(
      s.list(cms, "other").map((o) => o.metadata.name),
      ["b"],
    );
    assert.equal(s.count(cms), 2);
    assert.deepEqual(s.resourcesIn("other"), ["configmaps"]);
  });

  it("replays events after a resourceVersion in order, and says too old once history is compacted", () => {
    const s = new Store();
    const first = s.put(cms, cm("a"));
    s.put(cms, cm("b"));
    s.put(cms, { ...cm("a"), data: { x: "1" } });
    s.remove(cms, "default", "b");
    const { events, w } = watcher();
    s.watch(cms, w, Number(first.metadata.resourceVersion));
    assert.deepEqual(
      events.map((e) => e.split(" ").slice(0, 2).join(" ")),
      ["ADDED b", "MODIFIED a", "DELETED b"],
    );
    s.compact(cms);
    assert.deepEqual(s.watch(cms, watcher().w, Number(first.metadata.resourceVersion)), { tooOld: s.currentRv() + 1 });
  });

  it("sends the current state as ADDED without a resourceVersion, then live events", () => {
    const s = new Store();
    s.put(cms, cm("a"));
    const { events, w } = watcher("", "default");
    s.watch(cms, w, undefined);
    s.put(cms, cm("c", {}, "elsewhere"));
    s.put(cms, cm("d"));
    assert.deepEqual(
      events.map((e) => e.split(" ").slice(0, 2).join(" ")),
      ["ADDED a", "ADDED d"],
    );
  });

  it("turns objects entering or leaving a label selector into ADDED and DELETED events", () => {
    const s = new Store();
    const { events, w } = watcher("team=a");
    s.watch(cms, w, undefined);
    s.put(cms, cm("x", { team: "b" }));
    s.put(cms, cm("x", { team: "a" }));
    s.put(cms, cm("x", { team: "a", more: "1" }));
    s.put(cms, cm("x", { team: "b" }));
    const rv = s.currentRv();
    assert.deepEqual(
      events.map((e) => e.split(" ").slice(0, 2).join(" ")),
      ["ADDED x", "MODIFIED x", "DELETED x"],
    );
    assert.equal(events[2]!.split(" ")[2], String(rv));
  });

  it("tracks dependents by owner uid and forgets them on removal", () => {
    const s = new Store();
    s.put(cms, {
      ...cm("owned"),
      metadata: {
        ...cm("owned").metadata,
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "p", uid: "pod-uid" }],
      },
    });
    assert.deepEqual(s.dependentsOf("pod-uid"), [{ resource: "configmaps", namespace: "default", name: "owned" }]);
    s.remove(cms, "default", "owned");
    assert.deepEqual(s.dependentsOf("pod-uid"), []);
  });
});
