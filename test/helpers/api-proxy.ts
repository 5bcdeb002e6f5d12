// A fault injector between a program and a real API server, for the watch-restart tests: an
// HTTPS proxy on 127.0.0.1 that forwards every request to the API server as its admin, and
// can break the connection the way networks and load balancers do. `breakWatches()` ends the
// watch streams in flight and resets every new watch until `restore()`, while plain requests
// still pass (the API server is up, only the watch is lost); `breakAll()` resets everything.
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { ControlPlane } from "../../src/playground/control-plane/index.ts";
import { kubeconfigYaml } from "../../src/playground/control-plane/index.ts";
import { createCertificateAuthority } from "../../src/shared/pki.ts";

export interface ApiProxy {
  url: string;
  /** A kubeconfig for the proxy (it authenticates upstream itself). */
  kc: KubeConfig;
  /** Breaks the watches whose path starts with `pathPrefix` (default: every watch). */
  breakWatches(pathPrefix?: string): void;
  breakAll(): void;
  restore(): void;
  /** Watch requests that reached the API server through the proxy. */
  readonly watchRequests: number;
  stop(): Promise<void>;
}

const isWatch = (url: string | undefined): boolean => /[?&]watch=(true|1)\b/.test(url ?? "");

export async function startApiProxy(cp: ControlPlane): Promise<ApiProxy> {
  const ca = createCertificateAuthority("podid test proxy CA");
  const leaf = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
  const upstream = new URL(cp.url);
  const agent = new https.Agent({
    keepAlive: true,
    ca: cp.caPem,
    cert: cp.pki.adminCertPem,
    key: cp.pki.adminKeyPem,
  });
  let mode: "pass" | "watches" | "all" = "pass";
  let brokenPrefix = "";
  let watchRequests = 0;
  const sockets = new Set<Socket>();
  const watchSockets = new Map<Socket, string>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const watch = isWatch(req.url);
    if (mode === "all" || (watch && mode === "watches" && (req.url ?? "").startsWith(brokenPrefix))) {
      req.socket.destroy();
      return;
    }
    if (watch) {
      watchRequests++;
      watchSockets.set(req.socket, req.url ?? "");
      req.socket.once("close", () => watchSockets.delete(req.socket));
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const up = https.request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.flushHeaders(); // a watch sends its headers at once and its first event maybe never
        upRes.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    req.socket.once("close", () => up.destroy());
    req.pipe(up);
  };

  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, forward);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(url, ca.certPem, { token: "the-proxy-authenticates-upstream" }, "proxy"));
  return {
    url,
    kc,
    breakWatches(pathPrefix = "") {
      mode = "watches";
      brokenPrefix = pathPrefix;
      for (const [s, path] of watchSockets) if (path.startsWith(pathPrefix)) s.destroy();
    },
    breakAll() {
      mode = "all";
      for (const s of sockets) s.destroy();
    },
    restore() {
      mode = "pass";
    },
    get watchRequests() {
      return watchRequests;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
