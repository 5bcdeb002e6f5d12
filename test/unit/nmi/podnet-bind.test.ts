import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { bindToPod, podIpFrom, podPortsFrom } from "../../../src/playground/podnet/bind.ts";

describe("playground/podnet bindToPod", () => {
  const pod = "127.10.0.7";
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    [
      "loopback destination gets the pod IP",
      { host: "127.20.0.1", port: 80 },
      { host: "127.20.0.1", port: 80, localAddress: pod },
    ],
    [
      "localhost is pinned to IPv4 first",
      { host: "localhost", port: 80 },
      { host: "127.0.0.1", port: 80, family: 4, localAddress: pod },
    ],
    [
      "undici's null localAddress counts as unset",
      { host: "127.0.0.1", port: 1, localAddress: null },
      { host: "127.0.0.1", port: 1, localAddress: pod },
    ],
    [
      "an explicit local address is kept",
      { host: "127.0.0.1", port: 1, localAddress: "127.0.0.9" },
      { host: "127.0.0.1", port: 1, localAddress: "127.0.0.9" },
    ],
    ["non-loopback destinations are untouched", { host: "10.0.0.1", port: 1 }, { host: "10.0.0.1", port: 1 }],
    ["unix sockets are untouched", { path: "/tmp/s" }, { path: "/tmp/s" }],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.deepEqual(bindToPod(pod, input), want));

  it("sends the pod's own loopback ports to the pod IP, other loopback ports to the host", () => {
    const ports = new Set([2580]);
    assert.deepEqual(bindToPod(pod, { host: "127.0.0.1", port: 2580 }, ports), {
      host: pod,
      port: 2580,
      family: 4,
      localAddress: pod,
    });
    assert.deepEqual(bindToPod(pod, { host: "localhost", port: "2580" }, ports), {
      host: pod,
      port: "2580",
      family: 4,
      localAddress: pod,
    });
    assert.deepEqual(bindToPod(pod, { host: "127.0.0.1", port: 10000 }, ports), {
      host: "127.0.0.1",
      port: 10000,
      localAddress: pod,
    });
    assert.deepEqual(podPortsFrom(" 2580, 8080"), new Set([2580, 8080]));
    assert.throws(() => podPortsFrom("x"), /PODID_POD_LOOPBACK_PORTS/);
  });

  it("checks the env var", () => {
    assert.equal(podIpFrom(undefined), undefined);
    assert.equal(podIpFrom("127.1.2.3"), "127.1.2.3");
    assert.throws(() => podIpFrom("10.0.0.1"), /PODID_POD_IP must be an IPv4 loopback/);
    assert.throws(() => podIpFrom("127.0.0.256"), /PODID_POD_IP/);
  });
});
