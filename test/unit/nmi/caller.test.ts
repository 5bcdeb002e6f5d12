import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { identifyByIp, identifyByToken, normaliseIp, type ReviewedToken } from "../../../src/nmi/caller.ts";
import type { NmiPod } from "../../../src/nmi/pod.ts";
import { parseNmiPod } from "../../../src/nmi/pod.ts";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const pod = (over: Partial<NmiPod>): NmiPod => ({
  name: "p",
  namespace: "team-a",
  uid: "u1",
  nodeName: "node-1",
  phase: "Running",
  hostNetwork: false,
  serviceAccountName: "default",
  podIPs: ["127.10.0.5"],
  labels: {},
  annotations: {},
  deleting: false,
  ...over,
});

describe("nmi/caller identifyByIp", () => {
  const cases: Array<{ name: string; pods: NmiPod[]; ip: string; want: string | RegExp }> = [
    { name: "the one running pod", pods: [pod({})], ip: "127.10.0.5", want: "p" },
    { name: "IPv4-mapped address", pods: [pod({})], ip: "::ffff:127.10.0.5", want: "p" },
    { name: "a pending pod", pods: [pod({ phase: "Pending" })], ip: "127.10.0.5", want: "p" },
    {
      name: "IP reused: the finished pod is ignored",
      pods: [pod({ name: "old", uid: "u0", phase: "Succeeded" }), pod({ name: "new" })],
      ip: "127.10.0.5",
      want: "new",
    },
    { name: "unknown source address", pods: [pod({})], ip: "127.10.0.9", want: /belongs to no pod/ },
    { name: "pod on another node", pods: [pod({ nodeName: "node-2" })], ip: "127.10.0.5", want: /belongs to no pod/ },
    {
      name: "hostNetwork caller",
      pods: [pod({ hostNetwork: true, podIPs: ["127.20.0.1"] })],
      ip: "127.20.0.1",
      want: /hostNetwork/,
    },
    {
      name: "two live pods with one IP",
      pods: [pod({ name: "a" }), pod({ name: "b", uid: "u2" })],
      ip: "127.10.0.5",
      want: /several pods/,
    },
    { name: "only a finished pod", pods: [pod({ phase: "Failed" })], ip: "127.10.0.5", want: /no running pod/ },
    {
      name: "a deleting pod without a deadline",
      pods: [pod({ deleting: true })],
      ip: "127.10.0.5",
      want: /no running pod/,
    },
    {
      name: "a pod in its termination grace period: still served",
      pods: [pod({ deleting: true, deletionDeadline: NOW + 30_000 })],
      ip: "127.10.0.5",
      want: "p",
    },
    {
      name: "a deleted pod past its grace period",
      pods: [pod({ deleting: true, deletionDeadline: NOW - 1 })],
      ip: "127.10.0.5",
      want: /grace period is over/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = identifyByIp(c.pods, c.ip, "node-1", NOW);
      if (typeof c.want === "string") {
        assert.ok(r.ok, r.ok ? "" : r.error.description);
        assert.equal(r.pod.name, c.want);
      } else {
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.error.status, 403);
          assert.match(r.error.description, c.want);
        }
      }
    });
  }
  it("normalises only IPv4-mapped addresses", () => {
    assert.equal(normaliseIp("::ffff:10.0.0.1"), "10.0.0.1");
    assert.equal(normaliseIp("::1"), "::1");
  });
});

describe("nmi/caller identifyByToken", () => {
  const good: ReviewedToken = {
    authenticated: true,
    username: "system:serviceaccount:team-a:default",
    podName: "p",
    podUID: "u1",
    audiences: ["podid-nmi"],
  };
  const cases: Array<{ name: string; review: ReviewedToken; pods?: NmiPod[]; want: true | RegExp }> = [
    { name: "a bound token of a pod on this node", review: good, want: true },
    { name: "unauthenticated", review: { authenticated: false, error: "expired" }, want: /expired/ },
    { name: "wrong audience", review: { ...good, audiences: ["api"] }, want: /audience/ },
    { name: "not pod-bound", review: { ...good, podName: undefined }, want: /pod-bound/ },
    { name: "not a service account", review: { ...good, username: "alice" }, want: /pod-bound/ },
    { name: "same name, different uid (recreated pod)", review: { ...good, podUID: "u0" }, want: /not on node/ },
    {
      name: "other namespace",
      review: { ...good, username: "system:serviceaccount:team-b:default" },
      want: /not on node/,
    },
    { name: "pod on another node", review: good, pods: [pod({ nodeName: "node-2" })], want: /not running on node/ },
    {
      name: "other service account",
      review: { ...good, username: "system:serviceaccount:team-a:x" },
      want: /service account/,
    },
    { name: "hostNetwork pod", review: good, pods: [pod({ hostNetwork: true })], want: /hostNetwork/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = identifyByToken(c.pods ?? [pod({})], c.review, "podid-nmi", "node-1");
      if (c.want === true) assert.ok(r.ok);
      else {
        assert.equal(r.ok, false);
        if (!r.ok) assert.match(r.error.description, c.want);
      }
    });
  }
});

describe("nmi/pod parseNmiPod", () => {
  it("reads the fields the NMI needs, with defaults", () => {
    const r = parseNmiPod({
      metadata: {
        name: "p",
        namespace: "n",
        uid: "u",
        labels: { a: "b", n: 1 },
        deletionTimestamp: "2026-01-01T00:00:00Z",
      },
      spec: { nodeName: "node-1" },
      status: { podIP: "10.0.0.1", podIPs: [{ ip: "10.0.0.1" }, { ip: "fd00::1" }] },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value.podIPs, ["10.0.0.1", "fd00::1"]);
    assert.deepEqual(r.value.labels, { a: "b" });
    assert.equal(r.value.serviceAccountName, "default");
    assert.equal(r.value.phase, "Pending");
    assert.equal(r.value.deleting, true);
    assert.equal(r.value.deletionDeadline, Date.parse("2026-01-01T00:00:00Z"));
  });
  it("refuses objects without a name, naming the field", () => {
    const r = parseNmiPod({ metadata: {} });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.errors[0]!.field, "metadata.name");
    assert.equal(parseNmiPod(null).ok, false);
  });
});
