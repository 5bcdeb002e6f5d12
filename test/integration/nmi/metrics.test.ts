// The NMI's and the sidecar's /metrics as Prometheus reads them: `promtool check metrics`
// accepts both, a token served while a watch is broken is counted as stale (and one served on
// healthy watches is not), and the sidecar counts what it forwarded apart from what it could
// not (its token unreadable, the node's NMI unreachable), over real sockets.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import { createNmiMetrics, createSidecarMetrics } from "../../../src/nmi/metrics.ts";
import { buildSidecarApp } from "../../../src/nmi/sidecar.ts";
import { promtool } from "../../../src/playground/prometheus-bin.ts";
import { registerCommonMetrics, registerProcessMetrics } from "../../../src/shared/metrics.ts";
import { KEYS, NODE, world } from "../../unit/nmi/fixtures.ts";
import { testCa } from "../../helpers/azure.ts";

const TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com";

async function checkMetrics(text: string): Promise<void> {
  const r = await promtool(["check", "metrics"], text);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout + r.stderr, "");
}

describe("NMI and sidecar metrics (promtool, real sockets)", function () {
  this.timeout(30_000);

  it("counts tokens served while a watch is broken as stale, and promtool accepts the NMI's /metrics", async () => {
    let healthy = true;
    const registry = new Registry();
    registerCommonMetrics(registry);
    const metrics = createNmiMetrics(registry);
    const app = buildNmiApp({
      nodeName: NODE,
      view: world(),
      admissionKeys: () => KEYS,
      tokens: {
        getToken: (identity, resource) =>
          Promise.resolve({
            token: { accessToken: "t", expiresOn: Date.now() / 1000 + 3600, resource, clientId: identity.clientID },
            outcome: "hit" as const,
          }),
      },
      imds: { get: () => Promise.reject(new Error("not used")) },
      metrics,
      watchesHealthy: () => healthy,
    });
    const ask = () => app.inject({ url: TOKEN, headers: { metadata: "true" }, remoteAddress: "127.10.0.5" });
    assert.equal((await ask()).statusCode, 200);
    healthy = false;
    assert.equal((await ask()).statusCode, 200);
    assert.equal((await ask()).statusCode, 200);
    const text = (await app.inject("/metrics")).body;
    assert.match(text, /^podid_nmi_tokens_served_stale_total 2$/m);
    assert.match(text, /^podid_nmi_requests_total\{result="token",code="200"\} 3$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(text, /nodejs_active_handles_total/);
    await checkMetrics(text);
    await app.close();
  });

  describe("the sidecar", () => {
    let node: Server;
    let nodeUrl: string;
    before(async () => {
      // The node NMI's sidecar port speaks TLS only; the sidecar trusts the test CA.
      const serving = testCa().issue({ commonName: "podid-nmi", ipAddresses: ["127.0.0.1"] });
      node = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
        res.writeHead(req.headers["x-podid-pod-token"] === "pod-token" ? 200 : 403, {
          "content-type": "application/json",
        });
        res.end(JSON.stringify({ access_token: "t", expires_on: "1" }));
      });
      await new Promise<void>((r) => node.listen(0, "127.0.0.1", r));
      nodeUrl = `https://127.0.0.1:${(node.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => node.close(() => r())));

    it("serves /metrics that promtool accepts, counting forwarded answers apart from its own failures", async () => {
      const registry = new Registry();
      registerProcessMetrics(registry);
      const metrics = createSidecarMetrics(registry);
      let tokenReadable = true;
      const sidecar = buildSidecarApp({
        nodeEndpoint: nodeUrl,
        caPem: testCa().certPem,
        readToken: () => (tokenReadable ? Promise.resolve("pod-token") : Promise.reject(new Error("ENOENT"))),
        metrics,
      });
      const url = await sidecar.listen({ host: "127.0.0.1", port: 0 });
      assert.equal((await fetch(url + TOKEN, { headers: { metadata: "true" } })).status, 200);
      tokenReadable = false;
      assert.equal((await fetch(url + TOKEN)).status, 500);
      const unreachable = buildSidecarApp({
        nodeEndpoint: "https://127.0.0.1:1",
        caPem: testCa().certPem,
        readToken: () => Promise.resolve("pod-token"),
        metrics,
      });
      assert.equal((await unreachable.inject(TOKEN)).statusCode, 502);
      const text = await (await fetch(url + "/metrics")).text();
      assert.match(text, /^podid_nmi_sidecar_requests_total\{result="forwarded",code="200"\} 1$/m);
      assert.match(text, /^podid_nmi_sidecar_requests_total\{result="token_unreadable",code="500"\} 1$/m);
      assert.match(text, /^podid_nmi_sidecar_requests_total\{result="node_unreachable",code="502"\} 1$/m);
      assert.doesNotMatch(text, /pod-token/);
      await checkMetrics(text);
      await sidecar.close();
      await unreachable.close();
    });
  });
});
