// The playground's pod-network emulation, end to end: a child process started with the
// preload reaches a loopback server from its pod IP through fetch and node:http alike.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import http from "node:http";
import { execFile } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const preload = fileURLToPath(new URL("../../../src/playground/podnet/preload.ts", import.meta.url));

describe("playground/podnet preload", () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((req, res) => res.end(req.socket.remoteAddress));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("binds fetch and http connections to loopback destinations to the pod IP", async () => {
    const code = [
      `const a = await (await fetch("http://127.0.0.1:${port}/")).text();`,
      `const http = (await import("node:http")).default;`,
      `const b = await new Promise((r) => http.get("http://localhost:${port}/", (res) => { let d = ""; res.on("data", (c) => (d += c)); res.on("end", () => r(d)); }));`,
      `console.log(JSON.stringify([a, b]));`,
    ].join("\n");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--import", "tsx", "--import", preload, "--input-type=module", "-e", code],
        { env: { ...process.env, PODID_POD_IP: "127.10.0.7" } },
        (err, stdout, stderr) => (err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.deepEqual(JSON.parse(out), ["127.10.0.7", "127.10.0.7"]);
  });

  it("sends the pod's own loopback ports to its pod IP, where its sidecar listens", async () => {
    const sidecar = http.createServer((req, res) => res.end(`sidecar saw ${req.socket.remoteAddress}`));
    await new Promise<void>((r) => sidecar.listen(0, "127.10.0.7", r));
    const sidecarPort = (sidecar.address() as AddressInfo).port;
    try {
      const code = `console.log(JSON.stringify(await (await fetch("http://127.0.0.1:${sidecarPort}/")).text()));`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ["--import", "tsx", "--import", preload, "--input-type=module", "-e", code],
          { env: { ...process.env, PODID_POD_IP: "127.10.0.7", PODID_POD_LOOPBACK_PORTS: String(sidecarPort) } },
          (err, stdout, stderr) => (err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
        ),
      );
      assert.equal(JSON.parse(out), "sidecar saw 127.10.0.7");
    } finally {
      await new Promise<void>((r) => sidecar.close(() => r()));
    }
  });
});
