// The pure parts of the playground's side of a real control plane: what the simulated kubelet
// does with a pod, and how a webhook configuration is pointed at a process on loopback.
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import {
  affinityNode,
  kubeletAction,
  type KubeletAction,
} from "../../../src/playground/control-plane/simulated-kubelet.ts";
import { pointedAt } from "../../../src/playground/control-plane/webhooks.ts";

const NODES = new Set(["n1", "n2"]);
const pod = (o: { node?: string; phase?: string; deleting?: boolean; affinity?: string }): V1Pod => ({
  metadata: {
    name: "p",
    namespace: "ns",
    uid: "u1",
    ...(o.deleting === true ? { deletionTimestamp: new Date() } : {}),
  },
  spec: {
    containers: [{ name: "c" }],
    ...(o.node !== undefined ? { nodeName: o.node } : {}),
    ...(o.affinity !== undefined
      ? {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: [o.affinity] }] }],
              },
            },
          },
        }
      : {}),
  },
  status: { phase: o.phase ?? "Pending" },
});

describe("playground: the simulated kubelet's decisions", () => {
  const cases: Array<[string, V1Pod, KubeletAction]> = [
    ["binds an unscheduled pod to the next node", pod({}), { do: "bind", node: "n2" }],
    ["binds a DaemonSet's pod to the node its affinity names", pod({ affinity: "n1" }), { do: "bind", node: "n1" }],
    ["leaves a DaemonSet's pod for another node alone", pod({ affinity: "elsewhere" }), { do: "nothing" }],
    ["runs a pending pod bound to one of its nodes", pod({ node: "n1" }), { do: "run", node: "n1" }],
    ["leaves a running pod alone", pod({ node: "n1", phase: "Running" }), { do: "nothing" }],
    ["leaves a pod of another node alone", pod({ node: "other" }), { do: "nothing" }],
    [
      "removes a pod being deleted from one of its nodes",
      pod({ node: "n1", deleting: true }),
      { do: "remove", uid: "u1" },
    ],
    ["leaves a pod being deleted from another node alone", pod({ node: "other", deleting: true }), { do: "nothing" }],
  ];
  for (const [name, p, want] of cases)
    it(name, () =>
      assert.deepEqual(
        kubeletAction(p, NODES, () => "n2"),
        want,
      ),
    );

  it("reads no affinity node from a pod without one", () => assert.equal(affinityNode(pod({})), undefined));
});

describe("playground: webhook configurations pointed at a loopback process", () => {
  const config = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: "podid-validating" },
    webhooks: [
      {
        name: "a.example.com",
        clientConfig: { service: { name: "svc", namespace: "ns", path: "/validate/pods", port: 443 } },
      },
      { name: "b.example.com", clientConfig: { url: "https://127.0.0.1:1/validate/workloads", caBundle: "old" } },
    ],
  };

  it("calls each webhook's own path on the new address, trusting the given CA, and keeps the rest", () => {
    const out = pointedAt(config, "https://127.0.0.1:9443/", "PEM");
    const bundle = Buffer.from("PEM").toString("base64");
    assert.deepEqual(
      out.webhooks.map((w) => w.clientConfig),
      [
        { url: "https://127.0.0.1:9443/validate/pods", caBundle: bundle },
        { url: "https://127.0.0.1:9443/validate/workloads", caBundle: bundle },
      ],
    );
    assert.deepEqual(out.metadata, config.metadata);
    assert.equal(config.webhooks[0]!.clientConfig.service?.path, "/validate/pods", "the input is not changed");
  });
});
