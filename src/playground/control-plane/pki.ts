// The control plane's own PKI, written to its state folder: a cluster CA (serving certificate for
// 127.0.0.1 and localhost, the admin's client certificate in group system:masters), a front-proxy
// CA and client (without them the controller-manager logs errors without end), and the
// service-account signing key pair. Nothing here is shared with any other cluster.
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCertificateAuthority } from "../../shared/pki.ts";

export interface ControlPlanePki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** PEM of the cluster CA, for clients. */
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

export function writePki(dir: string): ControlPlanePki {
  const file = (name: string, content: string, mode = 0o644): string => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode });
    return p;
  };
  const ca = createCertificateAuthority("podid real-cluster CA", 30);
  const serving = ca.issue({
    commonName: "kube-apiserver",
    dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
    ipAddresses: ["127.0.0.1"],
    validDays: 30,
  });
  const admin = ca.issue({ commonName: "admin", organizations: ["system:masters"], client: true, validDays: 30 });
  const frontProxyCa = createCertificateAuthority("podid real-cluster front-proxy CA", 30);
  const frontProxy = frontProxyCa.issue({ commonName: "front-proxy-client", client: true, validDays: 30 });
  const sa = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return {
    caCert: file("ca.crt", ca.certPem),
    caKey: file("ca.key", ca.keyPem, 0o600),
    servingCert: file("apiserver.crt", serving.certPem),
    servingKey: file("apiserver.key", serving.keyPem, 0o600),
    adminCert: file("admin.crt", admin.certPem),
    adminKey: file("admin.key", admin.keyPem, 0o600),
    frontProxyCaCert: file("front-proxy-ca.crt", frontProxyCa.certPem),
    frontProxyClientCert: file("front-proxy-client.crt", frontProxy.certPem),
    frontProxyClientKey: file("front-proxy-client.key", frontProxy.keyPem, 0o600),
    serviceAccountKey: file("sa.key", sa.privateKey, 0o600),
    serviceAccountPub: file("sa.pub", sa.publicKey),
    caPem: ca.certPem,
    adminCertPem: admin.certPem,
    adminKeyPem: admin.keyPem,
  };
}
