// Certificates for loopback and self-signed serving: a CA and leaf certificates for given DNS
// names and IPs. Keys come from Node's native crypto (fast); node-forge builds and signs the
// X.509 structures, which Node cannot do on its own.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairPem {
  /** Issues a serving (and client) certificate signed by this CA. */
  issue(opts: LeafOptions): KeyPairPem;
}

export interface LeafOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  validDays?: number;
  /** Marks the certificate for TLS client authentication as well as serving. */
  client?: boolean;
  /** Subject organizations: the groups a Kubernetes API server reads from a client certificate. */
  organizations?: string[];
}

function rsaKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  const forgePrivate = forge.pki.privateKeyFromPem(privateKey);
  const forgePublic = forge.pki.setRsaPublicKey(forgePrivate.n, forgePrivate.e);
  return { publicKey: forgePublic, privateKey: forgePrivate, keyPem: privateKey };
}

function newCertificate(publicKey: forge.pki.rsa.PublicKey, validDays: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x00..0x7f byte keeps the DER integer non-negative.
  cert.serialNumber = "01" + randomBytes(15).toString("hex");
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60 * 1000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now + validDays * 24 * 3600 * 1000);
  return cert;
}

export function createCertificateAuthority(commonName = "podid playground CA", validDays = 365): CertificateAuthority {
  const keys = rsaKeyPair();
  const cert = newCertificate(keys.publicKey, validDays);
  const subject = [{ name: "commonName", value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const caCert = cert;
  return {
    certPem: forge.pki.certificateToPem(caCert),
    keyPem: keys.keyPem,
    issue: (opts) => issueLeaf(caCert, keys.privateKey, opts),
  };
}

function issueLeaf(caCert: forge.pki.Certificate, caKey: forge.pki.rsa.PrivateKey, opts: LeafOptions): KeyPairPem {
  const keys = rsaKeyPair();
  const cert = newCertificate(keys.publicKey, opts.validDays ?? 365);
  cert.setSubject([
    { name: "commonName", value: opts.commonName },
    ...(opts.organizations ?? []).map((value) => ({ name: "organizationName", value })),
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: opts.client ?? false },
    { name: "subjectAltName", altNames },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}
