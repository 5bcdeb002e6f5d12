import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";

describe("pki", () => {
  const ca = createCertificateAuthority("test CA");

  it("issues leaf certificates that chain to the CA and carry the requested names", () => {
    const leaf = ca.issue({ commonName: "svc", dnsNames: ["svc.ns.svc"], ipAddresses: ["127.0.0.1"] });
    const x509 = new X509Certificate(leaf.certPem);
    assert.ok(x509.verify(new X509Certificate(ca.certPem).publicKey));
    assert.match(x509.subjectAltName ?? "", /DNS:svc\.ns\.svc/);
    assert.match(x509.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.equal(new X509Certificate(ca.certPem).ca, true);
  });

  it("serves TLS that a client trusting only the CA accepts", async () => {
    const leaf = ca.issue({ commonName: "localhost", ipAddresses: ["127.0.0.1"] });
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end("hi"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: "127.0.0.1", port, ca: ca.certPem }, (res) => {
            let data = "";
            res.on("data", (c: Buffer) => (data += c.toString()));
            res.on("end", () => resolve(data));
          })
          .on("error", reject);
      });
      assert.equal(body, "hi");
    } finally {
      server.close();
    }
  });
});
