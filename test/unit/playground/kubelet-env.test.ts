import assert from "node:assert/strict";
import { containerEnv, expandRefs } from "../../../src/playground/kubelet-env.ts";

const pod = {
  metadata: { name: "myapp-1", namespace: "team-a", labels: { app: "myapp" } },
  spec: {
    nodeName: "node-0",
    containers: [
      {
        name: "app",
        env: [
          { name: "PODID_HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
          { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://$(PODID_HOST_IP):2579" },
          { name: "LATER_REF", value: "$(DEFINED_LATER)" },
          { name: "DEFINED_LATER", value: "x" },
          { name: "ESCAPED", value: "$$(PODID_HOST_IP)" },
          { name: "APP_LABEL", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        ],
      },
    ],
  },
  status: { hostIP: "127.20.0.1", podIP: "127.10.0.5" },
};

describe("playground kubelet environment", () => {
  it("resolves downward-API fields and expands references to earlier variables only", () => {
    assert.deepEqual(containerEnv(pod, "app"), {
      PODID_HOST_IP: "127.20.0.1",
      AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.20.0.1:2579",
      LATER_REF: "$(DEFINED_LATER)",
      DEFINED_LATER: "x",
      ESCAPED: "$(PODID_HOST_IP)",
      APP_LABEL: "myapp",
      NS: "team-a",
    });
  });
  it("names the missing container", () => {
    assert.throws(() => containerEnv(pod, "sidecar"), /no container named "sidecar"/);
  });
  it("leaves unknown references as written", () => assert.equal(expandRefs("a$(NOPE)b", {}), "a$(NOPE)b"));
});
