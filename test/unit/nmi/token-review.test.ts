import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { kubeTokenReviewer } from "../../../src/nmi/token-review.ts";

describe("nmi/token-review", () => {
  let server: Server;
  const sockets: Socket[] = [];
  let port = 0;
  before(async () => {
    // Accepts connections and never answers: an API server that hangs.
    server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  it("gives up on a TokenReview the API server does not answer, with a clear error", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const review = kubeTokenReviewer(kc, "podid-nmi", { timeoutMs: 200 });
    await assert.rejects(review("pod-token"), /the TokenReview got no answer within 200 ms/);
  });
});
