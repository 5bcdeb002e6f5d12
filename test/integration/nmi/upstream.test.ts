// The NMI's upstream edges over real sockets: the plain IMDS client (with the limiter) against
// a small local HTTP server, and the sidecar forwarder against local HTTPS servers (the node
// NMI, and impostors).
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { SIDECAR } from "../../../src/model/constants.ts";
import { UpstreamLimiter } from "../../../src/nmi/limiter.ts";
import { buildSidecarApp, fileTokenReader } from "../../../src/nmi/sidecar.ts";
import { ImdsClient, UpstreamError } from "../../../src/nmi/token-sources.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

async function server(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () => new Promise((r) => s.close(() => r())),
  };
}

describe("nmi ImdsClient against an IMDS-like server", () => {
  const seen: Seen[] = [];
  let imds: Awaited<ReturnType<typeof server>>;
  before(async () => {
    imds = await server((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      const u = new URL(req.url!, "http://x");
      if (u.searchParams.get("msi_res_id") === "missing") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "invalid_request", error_description: "Identity not found" }));
        return;
      }
      if (u.searchParams.get("msi_res_id") === "busy") {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
        res.end(JSON.stringify({ error: "too_many_requests", error_description: "slow down" }));
        return;
      }
      if (u.searchParams.get("msi_res_id") === "spoofed") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ access_token: "at", expires_on: "2000000000", client_id: "the-real-one" }));
        return;
      }
      if (u.searchParams.get("msi_res_id") === "garbage") {
        res.end("not json");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          access_token: "at",
          expires_on: "2000000000",
          resource: u.searchParams.get("resource"),
          token_type: "Bearer",
        }),
      );
    });
  });
  after(() => imds.close());

  const src = (client: ImdsClient, resourceID: string, clientID = "abc") => client.source({ resourceID, clientID });

  it("asks with Metadata: true and the identity's resource ID (never its client ID), and parses IMDS's strings", async () => {
    const client = new ImdsClient(imds.url, new UpstreamLimiter({ perSecond: 20, concurrent: 5 }));
    const t = await src(client, "/subscriptions/s/resourceGroups/rg/providers/x/abc").getToken(
      "https://storage.azure.com",
    );
    assert.deepEqual(t, {
      accessToken: "at",
      expiresOn: 2000000000,
      resource: "https://storage.azure.com",
      clientId: "abc",
    });
    const last = seen.at(-1)!;
    assert.equal(last.headers.metadata, "true");
    const url = new URL(last.url, "http://imds");
    assert.equal(url.pathname, "/metadata/identity/oauth2/token");
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      "api-version": "2018-02-01",
      resource: "https://storage.azure.com",
      msi_res_id: "/subscriptions/s/resourceGroups/rg/providers/x/abc",
    });
  });

  it("attack: refuses a token IMDS says belongs to another client ID than the AzureIdentity claims", async () => {
    const client = new ImdsClient(imds.url, new UpstreamLimiter({ perSecond: 20, concurrent: 5 }));
    await assert.rejects(
      src(client, "spoofed", "claimed-client").getToken("r"),
      (e: unknown) =>
        e instanceof UpstreamError &&
        e.imds.status === 403 &&
        /has client ID the-real-one, not claimed-client/.test(e.imds.description),
    );
  });

  it("carries IMDS's refusal and bad answers to the caller as IMDS errors", async () => {
    const client = new ImdsClient(imds.url, new UpstreamLimiter({ perSecond: 20, concurrent: 5 }));
    // "Identity not found" for an identity whose assignment is done: not yet propagated, retry.
    await assert.rejects(
      src(client, "missing").getToken("r"),
      (e: unknown) =>
        e instanceof UpstreamError &&
        e.imds.status === 503 &&
        e.imds.retryAfter === 5 &&
        /Identity not found/.test(e.imds.description),
    );
    await assert.rejects(
      src(client, "busy").getToken("r"),
      (e: unknown) => e instanceof UpstreamError && e.imds.status === 429 && e.imds.retryAfter === 1,
    );
    await assert.rejects(
      src(client, "garbage").getToken("r"),
      (e: unknown) => e instanceof UpstreamError && e.imds.status === 502,
    );
  });

  it("reports an unreachable IMDS as a 502", async () => {
    const client = new ImdsClient("http://127.0.0.1:1", new UpstreamLimiter({ perSecond: 20, concurrent: 5 }));
    await assert.rejects(
      src(client, "x").getToken("r"),
      (e: unknown) => e instanceof UpstreamError && e.imds.status === 502 && /did not answer/.test(e.imds.description),
    );
  });
});

describe("nmi sidecar forwarder: TLS to the node NMI, its certificate checked", () => {
  const seen: Seen[] = [];
  const NAME = "podid-nmi.podid-system.svc";
  const ca = createCertificateAuthority("podid NMI CA (test)");
  const rogueCa = createCertificateAuthority("someone else's CA");
  let node: Awaited<ReturnType<typeof tlsServer>>;
  let dir: string;
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push({ url: req.url!, headers: req.headers });
    res.writeHead(503, { "content-type": "application/json", "retry-after": "4" });
    res.end(JSON.stringify({ error: "service_unavailable", error_description: "wait" }));
  };
  async function tlsServer(pair: { certPem: string; keyPem: string }) {
    const s = https.createServer({ cert: pair.certPem, key: pair.keyPem }, answer);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return {
      url: `https://127.0.0.1:${(s.address() as AddressInfo).port}`,
      close: () => new Promise<void>((r) => s.close(() => r())),
    };
  }
  const sidecar = (endpoint: string, over: Partial<Parameters<typeof buildSidecarApp>[0]> = {}) =>
    buildSidecarApp({
      nodeEndpoint: endpoint,
      caPem: ca.certPem,
      serverName: NAME,
      readToken: () => Promise.resolve("pod-token-1"),
      ...over,
    });
  before(async () => {
    node = await tlsServer(ca.issue({ commonName: NAME, dnsNames: [NAME], ipAddresses: [] }));
    dir = mkdtempSync(join(tmpdir(), "podid-sidecar-"));
  });
  after(async () => {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("adds the pod's token, passes Metadata and the query, and relays status, body and Retry-After", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "pod-token-1\n");
    const app = sidecar(node.url + "/", { readToken: fileTokenReader(file) });
    const r = await app.inject({
      url: "/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=r",
      headers: { metadata: "true" },
    });
    assert.equal(r.statusCode, 503);
    assert.equal(r.headers["retry-after"], "4");
    assert.equal(r.json<{ error: string }>().error, "service_unavailable");
    const last = seen.at(-1)!;
    assert.equal(last.headers[SIDECAR.tokenHeader], "pod-token-1");
    assert.equal(last.headers.metadata, "true");
    assert.equal(last.url, "/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=r");
    await app.close();
  });

  const impostors: Array<[string, () => { certPem: string; keyPem: string }]> = [
    ["a certificate from another CA", () => rogueCa.issue({ commonName: NAME, dnsNames: [NAME], ipAddresses: [] })],
    ["podid's CA but another name", () => ca.issue({ commonName: "x", dnsNames: ["other.example"], ipAddresses: [] })],
  ];
  for (const [name, pair] of impostors)
    it(`attack: an impostor on the node network with ${name} never sees the pod's token`, async () => {
      const rogue = await tlsServer(pair());
      const before = seen.length;
      const app = sidecar(rogue.url);
      const r = await app.inject({ url: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r" });
      assert.equal(r.statusCode, 502);
      assert.match(r.json<{ error_description: string }>().error_description, /did not answer over TLS/);
      assert.equal(seen.length, before, "no request reached the impostor");
      await app.close();
      await rogue.close();
    });

  it("refuses a plain-HTTP node endpoint outright (the token never travels in clear)", () =>
    assert.throws(() => sidecar("http://127.0.0.1:2579"), /must be https/));

  it("answers 500 when the token file is missing and 502 when the node NMI is down", async () => {
    const noFile = sidecar(node.url, { readToken: fileTokenReader(join(dir, "absent")) });
    assert.equal((await noFile.inject({ url: "/metadata/identity/oauth2/token" })).statusCode, 500);
    const down = sidecar("https://127.0.0.1:1");
    const r = await down.inject({ url: "/metadata/identity/oauth2/token" });
    assert.equal(r.statusCode, 502);
    assert.match(r.json<{ error_description: string }>().error_description, /did not answer/);
    await noFile.close();
    await down.close();
  });
});
