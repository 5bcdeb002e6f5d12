// The cluster's service-account issuer, as the API server publishes it for OIDC discovery
// (`/.well-known/openid-configuration`, readable by every authenticated service account under
// the default `system:service-account-issuer-discovery` ClusterRole). The reconciler's
// federated credentials name it; Entra compares it exactly with the NMI's token's `iss`.
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../kube/request.ts";

export const DISCOVERY_PATH = "/.well-known/openid-configuration";

/** The issuer a discovery document names, checked as Entra will need it: an https URL. */
export function issuerFromDiscovery(doc: unknown): string {
  const issuer = typeof doc === "object" && doc !== null ? (doc as { issuer?: unknown }).issuer : undefined;
  if (typeof issuer !== "string" || issuer === "")
    throw new Error(`the discovery document has no "issuer" (got ${JSON.stringify(doc)?.slice(0, 200)})`);
  checkIssuer(issuer, "the API server's issuer");
  return issuer;
}

/** Throws unless `issuer` is an https URL (federated credentials refuse anything else). */
export function checkIssuer(issuer: string, what: string): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new Error(`${what} must be an https URL, got ${JSON.stringify(issuer)}`);
  }
  if (url.protocol !== "https:") throw new Error(`${what} must be an https URL, got ${JSON.stringify(issuer)}`);
}

/** Reads the issuer with the reconciler's own credentials; the error says what to do instead. */
export async function discoverIssuer(kc: KubeConfig): Promise<string> {
  let doc: unknown;
  try {
    doc = await kubeRequest(kc, { path: DISCOVERY_PATH });
  } catch (e) {
    throw new Error(
      `cannot discover the service-account issuer from the API server's ${DISCOVERY_PATH} ` +
        `(${e instanceof Error ? e.message : String(e)}); pass --federation-issuer=<the cluster's issuer URL> ` +
        `(on AKS: az aks show --query oidcIssuerProfile.issuerUrl)`,
      { cause: e },
    );
  }
  try {
    return issuerFromDiscovery(doc);
  } catch (e) {
    throw new Error(
      `cannot use the API server's ${DISCOVERY_PATH}: ${(e as Error).message}; pass --federation-issuer=<url>`,
      { cause: e },
    );
  }
}
