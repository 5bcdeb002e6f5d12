// Webhook configurations on a real API server whose webhook runs on this machine: the API
// server resolves a `clientConfig.service` to the Service's Endpoints, which may not hold a
// loopback address, so (as controller-runtime's envtest does) each webhook is pointed at
// `url: https://127.0.0.1:<port><its service path>` instead, with the CA that signed the
// webhook's serving certificate as its caBundle. Everything else in the configuration is kept.
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../../kube/request.ts";

interface ClientConfig {
  url?: string;
  service?: { name: string; namespace: string; path?: string; port?: number };
  caBundle?: string;
}
type WebhookConfiguration = Record<string, unknown> & {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: Array<{ name: string; clientConfig: ClientConfig }>;
};

/** Pure: the configuration with every webhook calling `baseUrl` + its service path, trusting `caPem`. */
export function pointedAt<T extends WebhookConfiguration>(config: T, baseUrl: string, caPem: string): T {
  const copy = structuredClone(config);
  const base = baseUrl.replace(/\/+$/, "");
  for (const w of copy.webhooks ?? []) {
    const path = w.clientConfig.service?.path ?? new URL(w.clientConfig.url ?? base).pathname;
    w.clientConfig = { url: `${base}${path}`, caBundle: Buffer.from(caPem).toString("base64") };
  }
  return copy;
}

const KINDS = ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"] as const;

/** Points the named configurations (mutating and validating) at `baseUrl`. */
export async function pointWebhooksAt(
  kc: KubeConfig,
  names: { mutating: string; validating: string },
  baseUrl: string,
  caPem: string,
): Promise<void> {
  for (const [kind, name] of [
    [KINDS[0], names.mutating],
    [KINDS[1], names.validating],
  ] as const) {
    const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${encodeURIComponent(name)}`;
    const current = await kubeRequest<WebhookConfiguration>(kc, { path });
    await kubeRequest(kc, { method: "PUT", path, body: pointedAt(current, baseUrl, caPem) });
  }
}
