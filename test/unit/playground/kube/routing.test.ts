import assert from "node:assert/strict";
import { PodIpPool, nodeIp, nodeNet } from "../../../../src/playground/kube/controllers/nodes.ts";
import { Registry } from "../../../../src/playground/kube/resources.ts";
import { route } from "../../../../src/playground/kube/routing.ts";
import { ApiError } from "../../../../src/playground/kube/status.ts";

const reg = new Registry();
const describeRoute = (path: string): string => {
  const r = route(reg, path);
  if (r.kind !== "resource") return JSON.stringify(r);
  const q = r.req;
  return `${q.def.group}/${q.def.plural} ns=${q.namespace ?? "-"} name=${q.name ?? "-"} sub=${q.subresource || "-"}`;
};

describe("playground kube routing", () => {
  const cases: Array<[string, string]> = [
    ["/api/v1/pods", "/pods ns=- name=- sub=-"],
    ["/api/v1/namespaces", "/namespaces ns=- name=- sub=-"],
    ["/api/v1/namespaces/team-a", "/namespaces ns=- name=team-a sub=-"],
    ["/api/v1/namespaces/team-a/status", "/namespaces ns=- name=team-a sub=status"],
    ["/api/v1/namespaces/team-a/pods", "/pods ns=team-a name=- sub=-"],
    ["/api/v1/namespaces/team-a/pods/p1/status", "/pods ns=team-a name=p1 sub=status"],
    ["/api/v1/namespaces/team-a/serviceaccounts/default/token", "/serviceaccounts ns=team-a name=default sub=token"],
    ["/api/v1/nodes/n1", "/nodes ns=- name=n1 sub=-"],
    ["/apis/apps/v1/namespaces/x/deployments/d", "apps/deployments ns=x name=d sub=-"],
    ["/apis/apps/v1", JSON.stringify({ kind: "groupVersion", group: "apps", version: "v1" })],
    ["/apis/apps", JSON.stringify({ kind: "group", group: "apps" })],
    ["/version", JSON.stringify({ kind: "other", path: "/version" })],
  ];
  for (const [path, want] of cases) it(`routes ${path}`, () => assert.equal(describeRoute(path), want));

  for (const path of [
    "/api/v1/nosuch",
    "/api/v1/namespaces/x/nodes",
    "/api/v1/namespaces/x/pods/p/nosub",
    "/apis/apps/v1/namespaces/x/deployments/d/status/x",
  ]) {
    it(`404s ${path}`, () =>
      assert.throws(
        () => route(reg, path),
        (e) => e instanceof ApiError && e.code === 404,
      ));
  }

  it("hands out distinct pod IPs away from node IPs and 127.0.0.1, reusing released ones", () => {
    const pool = new PodIpPool();
    const ips = Array.from({ length: 600 }, () => pool.allocate());
    assert.equal(new Set(ips).size, 600);
    for (const ip of ips) assert.match(ip, /^127\.1\d\.\d+\.([1-9]\d*)$/);
    assert.ok(!ips.some((ip) => ip.endsWith(".255") || ip.endsWith(".0")));
    pool.release(ips[5]!);
    assert.equal(pool.allocate(), ips[5]);
    assert.deepEqual(
      [0, 1, 252, 253, 254].map((i) => nodeIp(i, 0)),
      ["127.20.0.1", "127.20.0.2", "127.20.0.253", "127.20.0.254", "127.20.1.1"],
    );
    assert.equal(nodeIp(0, 7), "127.20.7.1");
  });

  it("moves the node addresses by PODID_PLAYGROUND_NODE_NET, refusing what is not a block number", () => {
    assert.equal(nodeNet({}), 0);
    assert.equal(nodeNet({ PODID_PLAYGROUND_NODE_NET: "3" }), 3);
    for (const bad of ["-1", "201", "1.5", "x"])
      assert.throws(
        () => nodeNet({ PODID_PLAYGROUND_NODE_NET: bad }),
        /PODID_PLAYGROUND_NODE_NET: expected a whole number/,
      );
  });
});

describe("playground kube scale subresource", () => {
  it("shows a Deployment as an autoscaling/v1 Scale with its selector as a string", async () => {
    const { toScale, selectorString, replicasOf } = await import("../../../../src/playground/kube/scale.ts");
    const s = toScale({
      metadata: { name: "d", namespace: "ns", resourceVersion: "7" },
      spec: { replicas: 3, selector: { matchLabels: { app: "x" } } },
      status: { replicas: 2 },
    });
    assert.deepEqual(
      [s.kind, s.apiVersion, s.spec, s.status],
      ["Scale", "autoscaling/v1", { replicas: 3 }, { replicas: 2, selector: "app=x" }],
    );
    assert.equal(
      selectorString({
        matchLabels: { a: "b" },
        matchExpressions: [
          { key: "t", operator: "In", values: ["1", "2"] },
          { key: "u", operator: "DoesNotExist" },
        ],
      }),
      "a=b,t in (1,2),!u",
    );
    assert.equal(replicasOf({ spec: { replicas: 2 } }), 2);
    assert.match(String(replicasOf({ spec: { replicas: -1 } })), /spec.replicas: Invalid value: -1/);
  });
});
