// `--self-signed`: for clusters without cert-manager. A CA and a serving certificate for
// <service>.<namespace>.svc are made once and kept in a Secret (so every replica serves the
// same certificate), written to files for the server, and the CA is put into the caBundle of
// both webhook configurations. The node NMI's sidecar certificate is made the same way, with a
// CA of its own, in Secret podid-nmi-tls (the NMI DaemonSet mounts it; the webhook gives the CA
// to the sidecars it injects).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { isAlreadyExists, isNotFound, kubeRequest } from "../kube/request.ts";
import { FIELD_MANAGER, NMI_TLS, WEBHOOK } from "../model/constants.ts";
import { createCertificateAuthority } from "../shared/pki.ts";

export interface SelfSignedOptions {
  namespace: string;
  service: string;
  secretName: string;
  dir: string;
  webhookConfigs: { mutating: string; validating: string };
  validDays?: number;
}

interface Material {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function dnsNamesFor(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

export function issueMaterial(service: string, namespace: string, validDays = 3650): Material {
  const ca = createCertificateAuthority(`podid webhook CA (${namespace})`, validDays);
  const leaf = ca.issue({
    commonName: `${service}.${namespace}.svc`,
    dnsNames: dnsNamesFor(service, namespace),
    ipAddresses: [],
  });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const unb64 = (s: unknown): string => (typeof s === "string" ? Buffer.from(s, "base64").toString() : "");

/** The NMI's sidecar-port certificate: a CA of its own, and a leaf for podid-nmi.<namespace>.svc. */
export function issueNmiMaterial(namespace: string, validDays = 3650): Material {
  const ca = createCertificateAuthority(`podid NMI CA (${namespace})`, validDays);
  const name = NMI_TLS.serverName(namespace);
  const leaf = ca.issue({ commonName: name, dnsNames: [name], ipAddresses: [] });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

async function readOrCreateSecret(
  kc: KubeConfig,
  o: { namespace: string; secretName: string },
  issue: () => Material,
): Promise<Material> {
  const path = `/api/v1/namespaces/${o.namespace}/secrets`;
  const read = async (): Promise<Material | undefined> => {
    try {
      const s = await kubeRequest<{ data?: Record<string, string> }>(kc, { path: `${path}/${o.secretName}` });
      const m = {
        caPem: unb64(s.data?.["ca.crt"]),
        certPem: unb64(s.data?.["tls.crt"]),
        keyPem: unb64(s.data?.["tls.key"]),
      };
      return m.caPem !== "" && m.certPem !== "" && m.keyPem !== "" ? m : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };
  const existing = await read();
  if (existing !== undefined) return existing;
  const m = issue();
  const body = {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: o.secretName, namespace: o.namespace, labels: { "app.kubernetes.io/part-of": "podid" } },
    data: { "ca.crt": b64(m.caPem), "tls.crt": b64(m.certPem), "tls.key": b64(m.keyPem) },
  };
  try {
    await kubeRequest(kc, { method: "POST", path, query: { fieldManager: FIELD_MANAGER }, body });
    return m;
  } catch (e) {
    // Another replica won the race: use its certificate.
    if (!isAlreadyExists(e)) throw e;
    const theirs = await read();
    if (theirs === undefined)
      throw new Error(`secret ${o.namespace}/${o.secretName} exists but holds no ca.crt, tls.crt and tls.key`, {
        cause: e,
      });
    return theirs;
  }
}

/** JSON Patch ops setting the caBundle of every webhook in a configuration. */
export function caBundlePatch(
  config: { webhooks?: Array<{ clientConfig?: { caBundle?: string } }> },
  caPem: string,
): Array<{ op: "add"; path: string; value: string }> {
  const bundle = b64(caPem);
  return (config.webhooks ?? []).flatMap((w, i) =>
    w.clientConfig?.caBundle === bundle
      ? []
      : [{ op: "add" as const, path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }],
  );
}

async function patchCaBundle(
  kc: KubeConfig,
  kind: "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
  name: string,
  caPem: string,
): Promise<void> {
  const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${name}`;
  const config = await kubeRequest<{ webhooks?: Array<{ clientConfig?: { caBundle?: string } }> }>(kc, { path });
  const ops = caBundlePatch(config, caPem);
  if (ops.length === 0) return;
  await kubeRequest(kc, {
    method: "PATCH",
    path,
    contentType: "application/json-patch+json",
    query: { fieldManager: FIELD_MANAGER },
    body: ops,
  });
}

/** Returns the certificate and key file paths to serve with. */
export async function bootstrapSelfSigned(
  kc: KubeConfig,
  o: SelfSignedOptions,
): Promise<{ certFile: string; keyFile: string; caPem: string }> {
  const m = await readOrCreateSecret(kc, o, () => issueMaterial(o.service, o.namespace, o.validDays));
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const certFile = join(o.dir, "tls.crt");
  const keyFile = join(o.dir, "tls.key");
  writeFileSync(certFile, m.certPem);
  writeFileSync(keyFile, m.keyPem, { mode: 0o600 });
  writeFileSync(join(o.dir, "ca.crt"), m.caPem);
  await patchCaBundle(kc, "mutatingwebhookconfigurations", o.webhookConfigs.mutating, m.caPem);
  await patchCaBundle(kc, "validatingwebhookconfigurations", o.webhookConfigs.validating, m.caPem);
  return { certFile, keyFile, caPem: m.caPem };
}

/** The node NMI's sidecar certificate (Secret podid-nmi-tls, made once); returns its CA. */
export async function bootstrapNmiTls(kc: KubeConfig, namespace: string): Promise<string> {
  const m = await readOrCreateSecret(kc, { namespace, secretName: NMI_TLS.secretName }, () =>
    issueNmiMaterial(namespace),
  );
  return m.caPem;
}

export const SELF_SIGNED_DEFAULTS = {
  service: WEBHOOK.serviceName,
  secretName: WEBHOOK.selfSignedSecretName,
  webhookConfigs: { mutating: WEBHOOK.mutatingConfigName, validating: WEBHOOK.validatingConfigName },
} as const;
