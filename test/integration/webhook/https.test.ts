// `podid webhook` over real HTTPS (its own main, with an in-memory state): real
// AdmissionReview bodies, bad bodies, a property run over keep-alive connections, and the
// serving certificate and admission keys reloaded when their files change.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { ADMISSION_MARK_ANNOTATION, PATHS } from "../../../src/model/constants.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { createCertificateAuthority, type CertificateAuthority } from "../../../src/shared/pki.ts";
import { runWebhook, type RunningWebhook } from "../../../src/webhook/main.ts";
import { review, rsPod, seedState } from "../../unit/webhook/fixtures.ts";
import { ROUTES, anyBody, checkAnswer } from "../../unit/webhook/property.ts";

interface Answer {
  status: number;
  body: string;
}

function post(
  port: number,
  ca: string,
  path: string,
  body: string,
  agent?: Agent,
  contentType = "application/json",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        ca,
        servername: "podid-webhook.podid-system.svc",
        agent,
        headers: { "content-type": contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function issue(ca: CertificateAuthority, dir: string): void {
  const leaf = ca.issue({
    commonName: "podid-webhook.podid-system.svc",
    dnsNames: ["podid-webhook.podid-system.svc"],
    ipAddresses: [],
  });
  writeFileSync(join(dir, "tls.crt"), leaf.certPem);
  writeFileSync(join(dir, "tls.key"), leaf.keyPem);
}

const until = async (cond: () => Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 100; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe("podid webhook over HTTPS", function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), "podid-webhook-https-"));
  const ca1 = createCertificateAuthority("webhook test CA 1");
  const keyFile = join(dir, "keys");
  let hook: RunningWebhook;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });

  before(async () => {
    issue(ca1, dir);
    writeFileSync(keyFile, "first-key-0123456789abcdef0123456789\n");
    hook = await runWebhook({
      host: "127.0.0.1",
      port: 0,
      tlsCertFile: join(dir, "tls.crt"),
      tlsKeyFile: join(dir, "tls.key"),
      admissionKeyFile: keyFile,
      selfSigned: false,
      namespace: "podid-system",
      serviceName: "podid-webhook",
      sidecarImage: "podid:test",
      fileCheckIntervalMs: 50,
      logger: silentLogger(),
      state: seedState(),
    });
  });
  after(async () => {
    agent.destroy();
    await hook?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("mutates and validates real AdmissionReview bodies", async () => {
    const body = review(rsPod());
    const m = await post(hook.port, ca1.certPem, PATHS.webhookMutatePods, JSON.stringify(body), agent);
    checkAnswer(body, m.status, m.body);
    const patch = JSON.parse(
      Buffer.from((JSON.parse(m.body) as { response: { patch: string } }).response.patch, "base64").toString(),
    ) as Array<{ path: string }>;
    assert.ok(patch.some((op) => op.path === "/metadata/annotations"));
    const denied = review(rsPod(), { namespace: "team-b" });
    const v = await post(hook.port, ca1.certPem, PATHS.webhookValidatePods, JSON.stringify(denied), agent);
    checkAnswer(denied, v.status, v.body);
    assert.match(v.body, /cross-namespace reuse/);
  });

  it("answers bad bodies with 400 and keeps serving", async () => {
    for (const [payload, ct] of [
      ["{", "application/json"],
      ["<xml/>", "application/xml"],
      ["{}", "application/json"],
    ] as const) {
      const r = await post(hook.port, ca1.certPem, PATHS.webhookValidatePods, payload, agent, ct);
      assert.equal(r.status, 400, r.body);
    }
    const big = await post(
      hook.port,
      ca1.certPem,
      PATHS.webhookValidatePods,
      JSON.stringify({ pad: "x".repeat(3_200_000) }),
      agent,
    );
    assert.equal(big.status, 413);
    const again = await post(hook.port, ca1.certPem, PATHS.webhookMutatePods, JSON.stringify(review(rsPod())), agent);
    assert.equal(again.status, 200);
  });

  it("answers 300 random and mutated reviews well over keep-alive HTTPS", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), anyBody, async (route, body) => {
        const r = await post(hook.port, ca1.certPem, route, JSON.stringify(body) ?? "null", agent);
        checkAnswer(body, r.status, r.body);
      }),
      { numRuns: 300 },
    );
  });

  it("reloads the admission keys when the file changes", async () => {
    const markOf = async (): Promise<string> => {
      const r = await post(
        hook.port,
        ca1.certPem,
        PATHS.webhookMutatePods,
        JSON.stringify(review(rsPod({ aadpodidbinding: "myapp", other: "1" }))),
        agent,
      );
      const ops = JSON.parse(
        Buffer.from((JSON.parse(r.body) as { response: { patch: string } }).response.patch, "base64").toString(),
      ) as Array<{ path: string; value: Record<string, string> }>;
      return ops.find((o) => o.path === "/metadata/annotations")!.value[ADMISSION_MARK_ANNOTATION]!;
    };
    const before = await markOf();
    writeFileSync(keyFile, "second-key-0123456789abcdef012345678\nfirst-key-0123456789abcdef0123456789\n");
    await until(async () => (await markOf()).split(".")[1] !== before.split(".")[1], "the new key");
  });

  it("reloads the serving certificate when the files change (cert-manager rotation)", async () => {
    const ca2 = createCertificateAuthority("webhook test CA 2");
    issue(ca2, dir);
    await until(async () => {
      try {
        // A fresh connection: the new certificate applies to new handshakes.
        return (await post(hook.port, ca2.certPem, PATHS.webhookValidatePods, "{}")).status === 400;
      } catch {
        return false;
      }
    }, "the new certificate");
    await assert.rejects(post(hook.port, ca1.certPem, PATHS.webhookValidatePods, "{}"));
  });
});
