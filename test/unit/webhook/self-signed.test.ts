import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { caBundlePatch, dnsNamesFor, issueMaterial } from "../../../src/webhook/self-signed.ts";

describe("webhook: --self-signed material", () => {
  it("names the service the way the apiserver calls it", () =>
    assert.deepEqual(dnsNamesFor("podid-webhook", "podid-system"), [
      "podid-webhook",
      "podid-webhook.podid-system",
      "podid-webhook.podid-system.svc",
      "podid-webhook.podid-system.svc.cluster.local",
    ]));

  it("issues a serving certificate signed by its CA", () => {
    const m = issueMaterial("podid-webhook", "podid-system", 30);
    const leaf = new X509Certificate(m.certPem);
    const ca = new X509Certificate(m.caPem);
    assert.ok(leaf.verify(ca.publicKey));
    assert.ok(leaf.checkHost("podid-webhook.podid-system.svc") !== undefined);
  });

  it("patches only the webhooks whose caBundle differs", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
    const bundle = Buffer.from(pem).toString("base64");
    assert.deepEqual(
      caBundlePatch({ webhooks: [{ clientConfig: { caBundle: bundle } }, { clientConfig: {} }, {}] }, pem),
      [
        { op: "add", path: "/webhooks/1/clientConfig/caBundle", value: bundle },
        { op: "add", path: "/webhooks/2/clientConfig/caBundle", value: bundle },
      ],
    );
    assert.deepEqual(caBundlePatch({}, pem), []);
  });
});
