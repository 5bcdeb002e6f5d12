// While the NMI's pod watch is broken, every token request waits for a read of the node's pods
// made after it arrived; a burst of requests must cost one or two reads, never one each.
import assert from "node:assert/strict";
import { podRereader } from "../../../src/nmi/kube-view.ts";
import type { NmiPod } from "../../../src/nmi/pod.ts";
import { pod } from "./fixtures.ts";

function controlledReads() {
  const pending: Array<(pods: NmiPod[]) => void> = [];
  let reads = 0;
  return {
    read: () =>
      new Promise<NmiPod[]>((resolve) => {
        reads++;
        pending.push(resolve);
      }),
    finish: (pods: NmiPod[]) => pending.shift()!(pods),
    get reads() {
      return reads;
    },
  };
}

describe("nmi: pod re-reads during a pod-watch outage", () => {
  it("gives requests that arrived before a read started the next read, one for all of them", async () => {
    const c = controlledReads();
    const reread = podRereader(c.read);
    const first = reread(Date.now());
    const later = Date.now() + 1000; // arrived after the first read began
    const second = reread(later);
    const third = reread(later);
    assert.equal(second, third, "the waiting requests share one read");
    assert.equal(c.reads, 1);
    c.finish([pod("old", "a", "127.10.0.9")]);
    assert.deepEqual([...(await first).byIp.keys()], ["127.10.0.9"]);
    await new Promise((r) => setImmediate(r));
    assert.equal(c.reads, 2, "the next read starts once the first ends");
    c.finish([pod("new", "a", "127.10.0.9")]);
    assert.equal((await second).byIp.get("127.10.0.9")?.[0]?.name, "new");
  });

  it("lets a request join a read that began after it arrived", async () => {
    const c = controlledReads();
    const reread = podRereader(c.read);
    const a = reread(Date.now());
    const b = reread(0);
    assert.equal(a, b);
    assert.equal(c.reads, 1);
    c.finish([]);
    assert.equal((await b).byName.size, 0);
  });

  it("goes on after a failed read", async () => {
    let n = 0;
    const reread = podRereader(() => (++n === 1 ? Promise.reject(new Error("API down")) : Promise.resolve([])));
    await assert.rejects(reread(Date.now()), /API down/);
    assert.equal((await reread(Date.now())).byIp.size, 0);
  });
});
