// Why does this pod (not) get a token? The question AAD Pod Identity's users asked most,
// answered as an ordered list of findings over facts gathered elsewhere (gather.ts). Pure:
// the same rules the webhook, the reconciler and the NMI apply, explained in plain words.
import { ADMISSION_MARK_ANNOTATION, BINDING_LABEL, ENV, NMI_MODE_ANNOTATION, SIDECAR } from "../model/constants.ts";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";
import type { MarkCheck } from "../policy/admission-mark.ts";
import {
  decidePod,
  describeIdentity,
  effectivePolicy,
  exceptionApplies,
  podSelector,
  type PodDecision,
} from "../policy/index.ts";
import { parseProviderId } from "../reconciler/target.ts";
import { federationFindings, type FederationFacts } from "./federation.ts";

import type { DoctorPod } from "../model/pod.ts";

/** The doctor's projection of the model's pod view (src/model/pod.ts). */
export type { DoctorPod };

export interface DoctorInput {
  pod: DoctorPod;
  namespaceLabels: Record<string, string>;
  bindings: AzureIdentityBinding[];
  identities: AzureIdentity[];
  exceptions: AzurePodIdentityException[];
  policies: AzurePodIdentityPolicy[];
  /** Other namespaces whose bindings use the pod's selector. */
  selectorNamespaces: string[];
  /** podid objects in the namespace that failed to parse, and why. */
  invalid: Array<{ kind: string; name: string; problem: string }>;
  assigned: AzureAssignedIdentity[];
  node?: { name: string; providerID?: string };
  /** Verification of the admission mark, when the key was available. */
  mark: { checked: true; result: MarkCheck } | { checked: false };
  /** What federation looks like from the cluster (absent: nothing known). */
  federation?: FederationFacts;
}

export type FindingStatus = "ok" | "problem" | "warning" | "info";
export interface Finding {
  check: string;
  status: FindingStatus;
  message: string;
}

export interface Diagnosis {
  getsToken: boolean;
  /** One sentence: the answer to the question. */
  verdict: string;
  findings: Finding[];
}

const f = (check: string, status: FindingStatus, message: string): Finding => ({ check, status, message });

function decide(input: DoctorInput): PodDecision {
  return decidePod({
    namespace: input.pod.namespace,
    namespaceLabels: input.namespaceLabels,
    pod: {
      labels: input.pod.labels,
      serviceAccountName: input.pod.serviceAccountName,
      hostNetwork: input.pod.hostNetwork,
    },
    bindings: input.bindings,
    identities: input.identities,
    selectorBoundElsewhere: input.selectorNamespaces.length > 0,
    exceptions: input.exceptions,
    policies: input.policies,
  });
}

function bindingFindings(input: DoctorInput, selector: string): Finding[] {
  const out: Finding[] = [];
  const ns = input.pod.namespace;
  const mine = input.bindings.filter((b) => b.selector === selector);
  if (mine.length === 0) {
    const elsewhere =
      input.selectorNamespaces.length > 0
        ? ` It is bound in ${input.selectorNamespaces.map((n) => `"${n}"`).join(", ")}, but podid never lets a pod use another namespace's binding.`
        : "";
    out.push(
      f(
        "binding",
        "problem",
        `no AzureIdentityBinding in namespace "${ns}" has Selector "${selector}".${elsewhere} Create one in "${ns}".`,
      ),
    );
  }
  const byName = new Map(input.identities.map((i) => [i.metadata.name, i]));
  for (const b of mine) {
    out.push(
      f(
        "binding",
        "ok",
        `AzureIdentityBinding "${b.metadata.name}" binds selector "${selector}" to AzureIdentity "${b.azureIdentity}"${b.nmiMode ? ` (NMI mode ${b.nmiMode})` : ""}.`,
      ),
    );
    const id = byName.get(b.azureIdentity);
    if (id === undefined)
      out.push(
        f(
          "identity",
          "problem",
          `AzureIdentity "${b.azureIdentity}" does not exist in namespace "${ns}" (binding "${b.metadata.name}" names it).`,
        ),
      );
    else
      out.push(
        f(
          "identity",
          "ok",
          `AzureIdentity "${id.metadata.name}": ${["user-assigned managed identity", "service principal with secret", "service principal with certificate"][id.type]}, ${describeIdentity(id)}.`,
        ),
      );
  }
  for (const bad of input.invalid)
    out.push(
      f("invalid object", "warning", `${bad.kind} "${bad.name}" in "${ns}" is ignored by podid: ${bad.problem}`),
    );
  return out;
}

function policyFinding(input: DoctorInput, d: PodDecision): Finding {
  const eff = effectivePolicy(input.namespaceLabels, input.policies);
  const names = eff.policies.length > 0 ? eff.policies.join(", ") : "";
  if (d.reason === "not-allowed")
    return f("policy", "problem", d.message ?? "an identity is not allowed by the namespace policy");
  if (names === "")
    return f(
      "policy",
      "info",
      `no AzurePodIdentityPolicy selects namespace "${input.pod.namespace}": any identity of the namespace may be used, unmatched labels are denied.`,
    );
  return f(
    "policy",
    "ok",
    `namespace "${input.pod.namespace}" is governed by AzurePodIdentityPolicy ${names} (enforcement ${eff.enforcement}); the pod's identities are allowed.`,
  );
}

function markFinding(input: DoctorInput): Finding {
  const present = input.pod.annotations[ADMISSION_MARK_ANNOTATION] !== undefined;
  if (!input.mark.checked) {
    return present
      ? f(
          "admission mark",
          "info",
          "the pod carries an admission mark; pass --admission-key-file to verify it as the NMI does.",
        )
      : f(
          "admission mark",
          "problem",
          "the pod has no admission mark: it was not admitted by podid's webhook (webhook down with failurePolicy Ignore, an excluded namespace, or created before podid). The NMI refuses it tokens; recreate the pod.",
        );
  }
  return input.mark.result.valid
    ? f(
        "admission mark",
        "ok",
        "the admission mark is valid for this pod's namespace, service account, selector and identities.",
      )
    : f(
        "admission mark",
        "problem",
        `${input.mark.result.reason}; the NMI refuses it tokens. Recreate the pod so the webhook admits it again.`,
      );
}

function assignmentFindings(input: DoctorInput, d: PodDecision): Finding[] {
  return d.identities.map((id) => {
    const aai = input.assigned.find(
      (a) => a.spec.azureIdentityRef.name === id.metadata.name && a.spec.podUID === input.pod.uid,
    );
    if (aai === undefined) {
      const why = input.pod.nodeName
        ? "the reconciler has not recorded it yet (is `podid reconciler` running and leader?)"
        : "the pod is not scheduled to a node yet";
      return f("assignment", "problem", `no AzureAssignedIdentity for "${id.metadata.name}": ${why}.`);
    }
    const st = aai.status?.status ?? "Created";
    if (st === "Assigned")
      return f(
        "assignment",
        "ok",
        `"${id.metadata.name}" is Assigned to ${aai.status?.target ?? "the node"} (AzureAssignedIdentity "${aai.metadata.name}").`,
      );
    if (st === "Failed")
      return f(
        "assignment",
        "problem",
        `assigning "${id.metadata.name}" failed: ${aai.status?.reason ?? ""} ${aai.status?.message ?? ""}`.trim(),
      );
    return f(
      "assignment",
      "warning",
      `"${id.metadata.name}" is Created, not yet Assigned: Resource Manager is still working; the NMI makes token requests wait for it.`,
    );
  });
}

function nodeFinding(input: DoctorInput): Finding {
  if (input.pod.nodeName === undefined) return f("node", "problem", "the pod is not scheduled to a node.");
  if (input.node === undefined) return f("node", "problem", `node "${input.pod.nodeName}" does not exist.`);
  const loc = parseProviderId(input.node.providerID);
  if (!loc.ok) return f("node", "problem", `node "${input.node.name}": ${loc.error}`);
  const where =
    loc.value.kind === "vmss"
      ? `scale set "${loc.value.scaleSet}" instance ${loc.value.instance}`
      : `VM "${loc.value.vm}"`;
  return f("node", "ok", `node "${input.node.name}" is ${where} in resource group "${loc.value.resourceGroup}".`);
}

function modeFinding(input: DoctorInput, d: PodDecision): Finding {
  const mode = input.pod.annotations[NMI_MODE_ANNOTATION] ?? d.nmiMode;
  const envs = new Set(input.pod.containers.flatMap((c) => c.env));
  if (mode === "sidecar") {
    const has = input.pod.containers.some((c) => c.name === SIDECAR.containerName);
    return has
      ? f(
          "nmi mode",
          "ok",
          `sidecar: container "${SIDECAR.containerName}" presents the pod's service-account token to the node's NMI.`,
        )
      : f(
          "nmi mode",
          "problem",
          `sidecar mode, but the pod has no "${SIDECAR.containerName}" container; recreate the pod.`,
        );
  }
  const injected = envs.has(ENV.podIdentityAuthorityHost);
  return f(
    "nmi mode",
    injected ? "ok" : "warning",
    injected
      ? `daemonset: the node's NMI answers; ${ENV.podIdentityAuthorityHost} points the Azure SDKs at it.`
      : `daemonset: ${ENV.podIdentityAuthorityHost} is not set, so SDKs rely on the iptables redirect of 169.254.169.254.`,
  );
}

export function diagnose(input: DoctorInput): Diagnosis {
  const { pod } = input;
  const findings: Finding[] = [];
  const selector = podSelector(pod.labels);
  if (pod.phase !== undefined && pod.phase !== "Pending" && pod.phase !== "Running")
    findings.push(f("pod", "problem", `the pod is ${pod.phase}; only Pending and Running pods are served.`));
  const eff = effectivePolicy(input.namespaceLabels, input.policies);
  if (exceptionApplies(pod.namespace, eff, pod.labels, input.exceptions)) {
    findings.push(
      f(
        "exception",
        "info",
        "an AzurePodIdentityException matches the pod's labels: the NMI passes its calls to the node's own IMDS, as the node would answer them.",
      ),
    );
    return {
      getsToken: false,
      verdict: "podid leaves this pod alone (exception): it gets whatever the node's IMDS gives it.",
      findings,
    };
  }
  if (selector === undefined) {
    findings.push(
      f(
        "label",
        "problem",
        `the pod has no ${BINDING_LABEL} label: podid gives it no identity. Add the label to the pod template.`,
      ),
    );
    return { getsToken: false, verdict: `no token: the pod has no ${BINDING_LABEL} label.`, findings };
  }
  findings.push(f("label", "ok", `${BINDING_LABEL}=${selector}`));
  if (pod.hostNetwork)
    findings.push(
      f(
        "host network",
        "problem",
        "the pod uses hostNetwork: the NMI cannot tell its calls from the node's and refuses them.",
      ),
    );
  findings.push(...bindingFindings(input, selector));
  const d = decide(input);
  findings.push(policyFinding(input, d));
  if (d.verdict === "deny")
    findings.push(f("admission", "problem", `the webhook would deny this pod now: ${d.message ?? d.reason}`));
  for (const w of d.warnings) findings.push(f("admission", "warning", w));
  findings.push(markFinding(input), ...assignmentFindings(input, d));
  findings.push(
    ...federationFindings(d.identities, input.assigned, pod.uid, input.federation ?? { exchangeFailures: [] }),
  );
  findings.push(nodeFinding(input), modeFinding(input, d));
  const blocking = findings.find((x) => x.status === "problem");
  if (blocking !== undefined || d.verdict !== "allow") {
    return { getsToken: false, verdict: `no token: ${blocking?.message ?? d.message ?? d.reason}`, findings };
  }
  const names = d.identities.map((i) => `"${i.metadata.name}" (client ID ${i.clientID})`).join(", ");
  return { getsToken: true, verdict: `this pod gets tokens for ${names}.`, findings };
}

const MARKS: Record<FindingStatus, string> = { ok: "ok  ", problem: "FAIL", warning: "warn", info: "info" };

export function renderDiagnosis(pod: { namespace: string; name: string }, d: Diagnosis): string {
  const width = Math.max(...d.findings.map((x) => x.check.length), 5);
  const lines = d.findings.map((x) => `  [${MARKS[x.status]}] ${x.check.padEnd(width)}  ${x.message}`);
  return [`podid doctor ${pod.namespace}/${pod.name}`, ...lines, "", `Verdict: ${d.verdict}`, ""].join("\n");
}
