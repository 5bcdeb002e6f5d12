// NMI benchmark (part of `npm run bench`): cached-token requests over keep-alive against the
// NMI and against a bare Node HTTP server answering a canned token, maximum requests/s and
// p50/p99 at a fixed 1,000 requests/s (latency counted from each request's scheduled send
// time, so a stall is not hidden by the client waiting), and 1,000 concurrent cold requests
// for one identity with the number of upstream IMDS calls they cost.
// The servers run in child processes (this file, started with a role), so client and server
// never share an event loop. bench/run.ts writes the figures to bench-results/nmi.json.
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { compareServers, pacedLatency, startRole, type Contender } from "./lib.ts";

const ROLE_ENV = "PODID_NMI_BENCH_ROLE";
const TOKEN_QUERY = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com";
const CANNED = JSON.stringify({
  access_token: "x".repeat(1200),
  expires_on: "9999999999",
  expires_in: "3599",
  resource: "https://storage.azure.com",
  token_type: "Bearer",
});

async function serveNmi(): Promise<void> {
  const { buildNmiApp } = await import("../src/nmi/app.ts");
  const { UpstreamLimiter } = await import("../src/nmi/limiter.ts");
  const { ImdsClient } = await import("../src/nmi/token-sources.ts");
  const { TokenService } = await import("../src/nmi/tokens.ts");
  const { TokenCache } = await import("../src/nmi/token-cache.ts");
  const { KEYS, NODE, admit, assigned, binding, identity, MemoryView, pod } =
    await import("../test/unit/nmi/fixtures.ts");
  const view = new MemoryView();
  const id = identity("bench", "bench", "11111111-1111-4111-8111-111111111111");
  view.ids.push(id);
  view.binds.push(binding("bench", "bench", "bench", "bench"));
  const p = admit(view, pod("client", "bench", "127.0.0.1"), "bench");
  view.pods.push(p);
  view.aais.push(assigned(p, id, "Assigned"));
  const imds = new ImdsClient(process.env.IMDS_URL!, new UpstreamLimiter({ perSecond: 20, concurrent: 5 }));
  const tokens = new TokenService(
    (i) => imds.source({ resourceID: i.resourceID ?? "", clientID: i.clientID }),
    new TokenCache(),
  );
  const app = buildNmiApp({ nodeName: NODE, view, admissionKeys: () => KEYS, tokens, imds });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  process.stdout.write(`READY ${url}\n`);
}

async function serveBare(): Promise<void> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(CANNED);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
}

const startChild = (role: string, env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> =>
  startRole(fileURLToPath(import.meta.url), ROLE_ENV, role, [], env);
const contender = (server: { url: string; child: ChildProcess }): Contender => ({
  pid: server.child.pid!,
  closedLoop: { url: server.url + TOKEN_QUERY, headers: { Metadata: "true" } },
  paced: (rate, seconds) =>
    pacedLatency({
      origin: server.url,
      request: { path: TOKEN_QUERY, method: "GET", headers: { Metadata: "true" } },
      rate,
      seconds,
    }),
});

/** A stand-in for the node's IMDS that counts token calls and answers slowly. */
async function countingImds(): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/metadata/identity/oauth2/token") === true) calls++;
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          access_token: "upstream-token",
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: "r",
          token_type: "Bearer",
        }),
      );
    }, 200);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function coldConcurrent(url: string, n: number): Promise<void> {
  const pool = new Pool(url, { connections: 250, pipelining: 4 });
  const path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fcold.example.com";
  const statuses = await Promise.all(
    Array.from({ length: n }, () =>
      pool
        .request({ path, method: "GET", headers: { Metadata: "true" } })
        .then(async (r) => (await r.body.text(), r.statusCode)),
    ),
  );
  await pool.close();
  const bad = statuses.filter((s) => s !== 200).length;
  if (bad > 0) throw new Error(`bench: ${bad} of ${n} cold requests failed`);
}

export async function runNmiBench(): Promise<Record<string, number>> {
  const imds = await countingImds();
  const nmi = await startChild("nmi", { IMDS_URL: imds.url });
  const bare = await startChild("bare");
  try {
    // Cold first, on a fresh cache: 1,000 concurrent requests for one identity and resource.
    const cold = 1000;
    const before = imds.calls();
    await coldConcurrent(nmi.url, cold);
    const upstreamCalls = imds.calls() - before;
    // Then the cached path; the same schedule against the bare server shows how much of the
    // tail is the machine.
    const results = {
      ...(await compareServers(contender(nmi), contender(bare))),
      cold_concurrent_requests: cold,
      upstream_calls: upstreamCalls,
    };
    console.log(
      `nmi: ${results.rps} req/s (bare ${results.bare_rps}, ratio ${results.ratio_to_bare}); at 1000 req/s p50 ${results.p50_ms} ms, p99 ${results.p99_ms} ms (bare p99 ${results.bare_p99_ms} ms); ${cold} concurrent cold requests -> ${upstreamCalls} upstream call(s)`,
    );
    return results;
  } finally {
    nmi.child.kill();
    bare.child.kill();
    await imds.close();
  }
}

const role = process.env[ROLE_ENV];
if (role === "nmi") await serveNmi();
else if (role === "bare") await serveBare();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await runNmiBench();
