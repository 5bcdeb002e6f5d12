// What the doctor says about a federated identity: where its tokens come from and why, whether
// the reconciler found its credential, whether the issuer podid configures is the one the API
// server signs the NMI's token with, and the last refusal Entra gave the NMI. Pure.
import { FEDERATION, SYSTEM_NAMESPACE, type TokenSourceName } from "../model/constants.ts";
import { tokenSourceOf } from "../model/parse.ts";
import type { AzureAssignedIdentity, AzureIdentity } from "../model/types.ts";
import type { Finding } from "./diagnose.ts";

export interface FederationFacts {
  /** The ConfigMap podid-federation, when it could be read. */
  settings?: { defaultTokenSource?: string; tenantID?: string; issuer?: string; manageCredentials?: string };
  /** The `issuer` of the API server's /.well-known/openid-configuration, when it could be read. */
  apiServerIssuer?: string;
  /** The NMI's Events on the namespace's AzureIdentities, reason FEDERATION.exchangeFailedReason. */
  exchangeFailures: Array<{ identity: string; message: string; at?: string; count?: number }>;
}

const finding = (status: Finding["status"], message: string): Finding => ({ check: "federation", status, message });

function clusterDefault(facts: FederationFacts): TokenSourceName {
  return facts.settings?.defaultTokenSource === "Federated" ? "Federated" : FEDERATION.defaultTokenSource;
}

function issuerFinding(facts: FederationFacts): Finding | undefined {
  const configured = facts.settings?.issuer ?? "";
  const signed = facts.apiServerIssuer;
  if (signed === undefined) return undefined;
  if (configured !== "" && configured.replace(/\/$/, "") !== signed.replace(/\/$/, ""))
    return finding(
      "problem",
      `podid-federation sets issuer "${configured}", but the API server signs the NMI's token as "${signed}": ` +
        `Entra refuses the exchange (AADSTS700211). Clear issuer, or set the API server's --service-account-issuer.`,
    );
  return finding("ok", `the credential's issuer is the API server's: "${signed}".`);
}

function sourceFinding(id: AzureIdentity, source: TokenSourceName, aai: AzureAssignedIdentity | undefined): Finding {
  const why =
    id.tokenSource !== undefined
      ? "its spec.tokenSource"
      : `the cluster default (ConfigMap ${FEDERATION.configMapName})`;
  const recorded = aai?.status?.tokenSource ?? "NodeAssigned";
  if (source === "Federated" && aai?.status?.status === "Assigned" && recorded === "Federated")
    return finding(
      "ok",
      `"${id.metadata.name}" federates (${why}): the reconciler found credential ${aai.status.target ?? FEDERATION.credentialName} ` +
        `with subject ${FEDERATION.subject(SYSTEM_NAMESPACE)}; the NMI exchanges its own token at Entra ID for it.`,
    );
  if (aai?.status?.status === "Assigned" && recorded !== source)
    return finding(
      "info",
      `"${id.metadata.name}" is moving to ${source} (${why}); until that is ready the pod is served as ${recorded}.`,
    );
  return finding(
    "info",
    `"${id.metadata.name}" gets its tokens ${source === "Federated" ? "by federation" : "from the node's IMDS"} (${why}).`,
  );
}

/** Findings for the pod's user-assigned identities that federate (or are moving to or from it). */
export function federationFindings(
  identities: readonly AzureIdentity[],
  assigned: readonly AzureAssignedIdentity[],
  podUid: string,
  facts: FederationFacts,
): Finding[] {
  const out: Finding[] = [];
  let federates = false;
  for (const id of identities) {
    const source = tokenSourceOf(id, clusterDefault(facts));
    if (source === undefined) continue;
    const aai = assigned.find((a) => a.spec.azureIdentityRef.name === id.metadata.name && a.spec.podUID === podUid);
    if (source !== "Federated" && aai?.status?.tokenSource !== "Federated") continue;
    federates = true;
    out.push(sourceFinding(id, source, aai));
    const last = facts.exchangeFailures
      .filter((e) => e.identity === id.metadata.name)
      .sort((a, b) => (a.at ?? "").localeCompare(b.at ?? ""))
      .at(-1);
    if (last !== undefined)
      out.push(
        finding(
          "warning",
          `the NMI's last exchange for "${id.metadata.name}" was refused${last.at !== undefined ? ` (${last.at}` : ""}` +
            `${last.count !== undefined && last.count > 1 ? `, ${last.count} times` : ""}${last.at !== undefined ? ")" : ""}: ${last.message}`,
        ),
      );
  }
  if (!federates) return out;
  if (facts.settings !== undefined && (facts.settings.tenantID ?? "") === "")
    out.push(
      finding(
        "problem",
        `ConfigMap ${SYSTEM_NAMESPACE}/${FEDERATION.configMapName} has no tenantID: the NMI cannot ask Entra ID. ` +
          `Set it to the identities' tenant and restart the NMI DaemonSet.`,
      ),
    );
  const issuer = issuerFinding(facts);
  if (issuer !== undefined) out.push(issuer);
  return out;
}
