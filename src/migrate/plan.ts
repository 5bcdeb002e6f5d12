// What podid would refuse in a cluster that runs AAD Pod Identity, decided purely from what
// gather.ts read, with the webhook's own gathering (readPodView, podInput, memoryState) and the
// one policy engine (decidePod), so the report and the webhook cannot disagree. For each
// workload's pod template and each pod not made by one, the pod rules are asked; a selector
// bound only in other namespaces (AAD Pod Identity's cross-namespace matching) gets copies of
// those bindings and their identities in the pod's namespace, and is asked again with them, so
// a copy a policy would not allow is reported as such instead of offered as a fix.
import { BINDING_LABEL, EXCLUDED_NAMESPACES, KINDS } from "../model/constants.ts";
import { isObject, type Obj } from "../model/read.ts";
import type { AzureIdentity, AzureIdentityBinding } from "../model/types.ts";
import { decidePod, podSelector, type PodDecision } from "../policy/index.ts";
import { podInput, readPodView } from "../webhook/pod.ts";
import { memoryState, type WebhookState } from "../webhook/state.ts";
import { TEMPLATE_PATHS, template, WORKLOAD_KINDS } from "../webhook/workloads.ts";
import type { CrdInfo, MigrateInput } from "./gather.ts";
import { copyFor, type Copy } from "./copies.ts";
import { meta, nameOf, nsOf, parseAll, type ParsedObjects } from "./objects.ts";

export type FindingKind =
  | "cross-namespace"
  | "host-network"
  | "not-allowed"
  | "unmatched"
  | "missing-identity"
  | "excluded-namespace"
  | "invalid-object"
  | "audit"
  | "restart"
  | "crd";

export interface Finding {
  kind: FindingKind;
  /** podid would refuse this (a pod or workload denied, a pod refused tokens): the exit status counts these. */
  breaks: boolean;
  /** `Deployment/reporter`, `AzureIdentity/demo-reader`, or the cluster. */
  subject: string;
  message: string;
  /** What fixes it; with manifests when `podid migrate` can write them. */
  fix?: string;
}

export interface NamespaceReport {
  namespace: string;
  findings: Finding[];
  /** The AzureIdentity and AzureIdentityBinding copies that fix this namespace's cross-namespace findings. */
  manifests: Obj[];
}

export interface MigrationReport {
  namespaces: NamespaceReport[];
  cluster: Finding[];
  /** Findings that break something, over all namespaces. */
  breaking: number;
}

function stateOf(
  input: MigrateInput,
  p: ParsedObjects,
  extra: { identities: AzureIdentity[]; bindings: AzureIdentityBinding[] },
) {
  return memoryState({
    namespaces: Object.fromEntries(input.namespaces.map((n) => [n.name, n.labels])),
    identities: [...p.identities, ...extra.identities],
    bindings: [...p.bindings, ...extra.bindings],
    exceptions: p.exceptions,
    policies: p.policies,
  });
}

/** A workload or pod whose pod template podid admits: not one another workload makes. */
interface Subject {
  namespace: string;
  subject: string;
  template: unknown;
}

function controller(o: Obj): string | undefined {
  const refs = Array.isArray(meta(o).ownerReferences) ? (meta(o).ownerReferences as unknown[]) : [];
  const c = refs.find((r) => isObject(r) && r.controller === true);
  return isObject(c) && typeof c.kind === "string" ? c.kind : undefined;
}

function subjects(input: MigrateInput): Subject[] {
  const made = (o: Obj): boolean => WORKLOAD_KINDS.includes(controller(o) ?? "");
  const out: Subject[] = [];
  for (const w of input.workloads) {
    const path = TEMPLATE_PATHS[String(w.kind)]?.path;
    if (path !== undefined && !made(w))
      out.push({ namespace: nsOf(w), subject: `${String(w.kind)}/${nameOf(w)}`, template: template(w, path) });
  }
  for (const pod of input.pods)
    if (!made(pod)) out.push({ namespace: nsOf(pod), subject: `Pod/${nameOf(pod)}`, template: pod });
  return out.sort((a, b) => `${a.namespace}/${a.subject}`.localeCompare(`${b.namespace}/${b.subject}`));
}

const finding = (kind: FindingKind, breaks: boolean, subject: string, message: string, fix?: string): Finding =>
  fix === undefined ? { kind, breaks, subject, message } : { kind, breaks, subject, message, fix };

function denialFinding(s: Subject, d: PodDecision): Finding {
  const fixes: Partial<Record<string, string>> = {
    "host-network": "set hostNetwork: false or remove the label; podid never serves host-network pods",
    "not-allowed": "use an identity the namespace's AzurePodIdentityPolicy allows, or have a cluster admin widen it",
    unmatched: `create an AzureIdentityBinding for the selector in "${s.namespace}", remove the label, or set onUnmatchedLabel: Warn in a policy`,
    "missing-identity": `create the AzureIdentity in "${s.namespace}" or correct the binding`,
    "cross-namespace": "no binding of that selector anywhere can be copied here (see the other findings)",
  };
  const kind = (
    ["cross-namespace", "host-network", "not-allowed", "unmatched", "missing-identity"].includes(d.reason)
      ? d.reason
      : "unmatched"
  ) as FindingKind;
  return finding(kind, true, s.subject, d.message ?? d.reason, fixes[d.reason]);
}

interface Decided {
  findings: Finding[];
  copies: Copy[];
}

/** One pod template: its decision now, and with copies when its selector is bound only elsewhere. */
function decideSubject(s: Subject, state: WebhookState, input: MigrateInput, p: ParsedObjects): Decided {
  const view = readPodView(s.template, "template");
  if (!view.ok) return { findings: [], copies: [] };
  const selector = podSelector(view.value.labels);
  if (selector === undefined) return { findings: [], copies: [] };
  if ((EXCLUDED_NAMESPACES as readonly string[]).includes(s.namespace))
    return {
      findings: [
        finding(
          "excluded-namespace",
          true,
          s.subject,
          `${BINDING_LABEL}=${selector} in namespace "${s.namespace}": podid's webhooks never see this namespace, so its pods get no admission mark and no token`,
          "run the workload in another namespace",
        ),
      ],
      copies: [],
    };
  const d = decidePod(podInput(state, s.namespace, view.value, selector));
  if (d.verdict !== "deny")
    return { findings: d.warnings.map((w) => finding("audit", false, s.subject, w)), copies: [] };
  const copies =
    d.reason === "cross-namespace" || d.reason === "missing-identity" ? copyFor(s.namespace, selector, p) : [];
  if (copies.length === 0) return { findings: [denialFinding(s, d)], copies: [] };
  const withCopies = stateOf(input, p, {
    identities: copies.flatMap((c) => (c.identity !== undefined ? [c.identity] : [])),
    bindings: copies.flatMap((c) => (c.binding !== undefined ? [c.binding] : [])),
  });
  const again = decidePod(podInput(withCopies, s.namespace, view.value, selector));
  if (again.verdict === "deny") return { findings: [denialFinding(s, again)], copies: [] };
  const from = [...new Set(copies.map((c) => c.from))].join(", ");
  return {
    findings: [
      finding(
        d.reason === "cross-namespace" ? "cross-namespace" : "missing-identity",
        true,
        s.subject,
        d.message ?? d.reason,
        `copy ${copies.map((c) => `${String(c.manifest.kind)} "${nameOf(c.manifest)}"`).join(", ")} from ${from} into "${s.namespace}" (the manifests below; --apply creates them)`,
      ),
    ],
    copies,
  };
}

function invalidFindings(p: ParsedObjects, crds: CrdInfo[]): Array<{ namespace: string; finding: Finding }> {
  const pruning = new Set(crds.filter((c) => c.installed && !c.keepsOtherSpellings).map((c) => c.kind));
  return p.invalid.map((i) => {
    const hidden = pruning.has(i.kind) && /is required/.test(i.problem);
    const why = hidden
      ? ` Its CRD (AAD Pod Identity v1.8's) keeps only the lower-case spellings (clientID, resourceID, azureIdentity, selector): fields written as ClientID, ResourceID... are hidden by the API server. Install podid's CRDs (kubectl apply -k config/crd), which keep both spellings, and run podid migrate again; if the field is still missing it was dropped when the object was written: apply it again.`
      : "";
    const exception = i.kind === "AzurePodIdentityException";
    return {
      namespace: i.namespace,
      finding: finding(
        "invalid-object",
        exception,
        `${KINDS[i.kind].kind}/${i.name}`,
        `podid ignores this ${KINDS[i.kind].kind}: ${i.problem}.${why}${exception ? " The pods it excepted lose their pass-through to the node's IMDS." : ""}`,
        "correct the object (podid's webhook refuses it as it is)",
      ),
    };
  });
}

/** Labelled pods running today carry no admission mark: podid's NMI refuses them until they are recreated. */
function restartFindings(input: MigrateInput): Array<{ namespace: string; finding: Finding }> {
  const counts = new Map<string, number>();
  for (const pod of input.pods) {
    const labels = isObject(meta(pod).labels) ? (meta(pod).labels as Obj) : {};
    if (typeof labels[BINDING_LABEL] !== "string" || labels[BINDING_LABEL] === "") continue;
    if ((EXCLUDED_NAMESPACES as readonly string[]).includes(nsOf(pod))) continue;
    counts.set(nsOf(pod), (counts.get(nsOf(pod)) ?? 0) + 1);
  }
  return [...counts].map(([namespace, n]) => ({
    namespace,
    finding: finding(
      "restart",
      false,
      `${n} pod${n === 1 ? "" : "s"}`,
      `${n === 1 ? "a pod" : `${n} pods`} with the ${BINDING_LABEL} label ${n === 1 ? "exists" : "exist"} from before podid: the NMI serves only pods podid's webhook admitted`,
      "after installing podid: kubectl rollout restart the workloads (or delete the pods)",
    ),
  }));
}

function crdFindings(crds: CrdInfo[]): Finding[] {
  const out: Finding[] = [];
  const aad = crds.filter((c) => c.installed && c.aadPodIdentity).map((c) => c.kind);
  if (aad.length > 0)
    out.push(
      finding(
        "crd",
        false,
        "CustomResourceDefinitions",
        `${aad.join(", ")} ${aad.length === 1 ? "is" : "are"} defined by AAD Pod Identity's CRDs`,
        "install podid's (kubectl apply -k config/crd): same group and kinds, your objects stay",
      ),
    );
  if (!crds.some((c) => c.kind === "AzurePodIdentityPolicy" && c.installed))
    out.push(
      finding(
        "crd",
        false,
        "AzurePodIdentityPolicy",
        "not installed (AAD Pod Identity has no namespace policies): every namespace may use any of its identities",
      ),
    );
  return out;
}

export function planMigration(input: MigrateInput): MigrationReport {
  const parsed = parseAll(input);
  const state = stateOf(input, parsed, { identities: [], bindings: [] });
  const byNs = new Map<string, NamespaceReport>();
  const at = (ns: string): NamespaceReport => {
    let r = byNs.get(ns);
    if (r === undefined) byNs.set(ns, (r = { namespace: ns, findings: [], manifests: [] }));
    return r;
  };
  for (const s of subjects(input)) {
    const d = decideSubject(s, state, input, parsed);
    const r = at(s.namespace);
    r.findings.push(...d.findings);
    for (const c of d.copies)
      if (!r.manifests.some((m) => m.kind === c.manifest.kind && nameOf(m) === nameOf(c.manifest)))
        r.manifests.push(c.manifest);
  }
  for (const x of [...invalidFindings(parsed, input.crds), ...restartFindings(input)])
    at(x.namespace).findings.push(x.finding);
  const namespaces = [...byNs.values()]
    .filter((r) => r.findings.length > 0)
    .sort((a, b) => a.namespace.localeCompare(b.namespace));
  return {
    namespaces,
    cluster: crdFindings(input.crds),
    breaking: namespaces.reduce((n, r) => n + r.findings.filter((f) => f.breaks).length, 0),
  };
}
