// Objects for the NMI's cluster tests: podid's CRDs, a namespace with an identity and
// binding, admitted pods pinned to a node, and their AzureAssignedIdentities.
import type { KubeConfig } from "@kubernetes/client-node";
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  API_VERSION,
  BINDING_LABEL,
  GROUP,
  KINDS,
  NMI_MODE_ANNOTATION,
  VERSION,
} from "../../../src/model/constants.ts";
import { kubeRequest, resourcePath } from "../../../src/kube/request.ts";
import type { NmiOptions } from "../../../src/nmi/main.ts";
import {
  claimsFor,
  formatAdmittedIdentities,
  signAdmissionMark,
  type AdmissionKeys,
  type MarkIdentity,
} from "../../../src/policy/admission-mark.ts";

/** podid's real CRDs, from config/crd. */
export { installCrds } from "../../../src/playground/control-plane/crds.ts";

export const create = (
  kc: KubeConfig,
  plural: string,
  group: string,
  version: string,
  namespace: string | undefined,
  body: unknown,
): Promise<unknown> =>
  kubeRequest(kc, { method: "POST", path: resourcePath({ group, version, plural, namespace }), body });

export async function createTenant(
  kc: KubeConfig,
  ns: string,
  identity: { name: string; clientID: string; resourceID: string },
  selector: string,
): Promise<void> {
  await create(kc, "namespaces", "", "v1", undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await createBinding(kc, ns, identity, selector);
}

/** An AzureIdentity and its AzureIdentityBinding in an existing namespace. */
export async function createBinding(
  kc: KubeConfig,
  ns: string,
  identity: { name: string; clientID: string; resourceID: string },
  selector: string,
): Promise<void> {
  await create(kc, KINDS.AzureIdentity.plural, GROUP, VERSION, ns, {
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name: identity.name, namespace: ns },
    spec: { type: 0, resourceID: identity.resourceID, clientID: identity.clientID },
  });
  await create(kc, KINDS.AzureIdentityBinding.plural, GROUP, VERSION, ns, {
    apiVersion: API_VERSION,
    kind: "AzureIdentityBinding",
    metadata: { name: `${identity.name}-binding`, namespace: ns },
    spec: { azureIdentity: identity.name, selector },
  });
}

export interface RunningPod {
  name: string;
  namespace: string;
  uid: string;
  podIP: string;
  nodeName: string;
}

export interface AdmittedPod {
  name: string;
  namespace: string;
  nodeName: string;
  selector: string;
  keys: AdmissionKeys;
  identities: MarkIdentity[];
  sidecar?: boolean;
}

/** A pod as the webhook admits it: label, mark, admitted identities and NMI mode. */
export function admittedPodBody(p: AdmittedPod): Record<string, unknown> {
  const mode = p.sidecar === true ? "sidecar" : "daemonset";
  const mark = signAdmissionMark(p.keys, claimsFor(p.namespace, "default", p.selector, p.identities, mode));
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { [BINDING_LABEL]: p.selector },
      annotations: {
        [ADMISSION_MARK_ANNOTATION]: mark,
        [ADMITTED_IDENTITIES_ANNOTATION]: formatAdmittedIdentities(p.identities),
        [NMI_MODE_ANNOTATION]: mode,
      },
    },
    spec: { nodeName: p.nodeName, serviceAccountName: "default", containers: [{ name: "app", image: "app:1" }] },
  };
}

export async function createPod(kc: KubeConfig, p: AdmittedPod): Promise<RunningPod> {
  await create(kc, "pods", "", "v1", p.namespace, admittedPodBody(p));
  return waitRunning(kc, p.namespace, p.name, p.nodeName);
}

/**
 * An AzurePodIdentityException and a pod it applies to (no binding label, no mark), in a
 * namespace a cluster admin's policy lets exceptions take effect in (`allowed`, the default).
 */
export async function createExceptedPod(
  kc: KubeConfig,
  ns: string,
  name: string,
  nodeName: string,
  allowed = true,
): Promise<RunningPod> {
  if (allowed)
    await create(kc, KINDS.AzurePodIdentityPolicy.plural, GROUP, VERSION, undefined, {
      apiVersion: API_VERSION,
      kind: "AzurePodIdentityPolicy",
      metadata: { name: `exceptions-${ns}-${name}` },
      spec: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } }, exceptions: "Allow" },
    });
  await create(kc, KINDS.AzurePodIdentityException.plural, GROUP, VERSION, ns, {
    apiVersion: API_VERSION,
    kind: "AzurePodIdentityException",
    metadata: { name: `${name}-exception`, namespace: ns },
    spec: { podLabels: { noaad: "true" } },
  });
  await create(kc, "pods", "", "v1", ns, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { noaad: "true" } },
    spec: { nodeName, containers: [{ name: "app", image: "app:1" }] },
  });
  return waitRunning(kc, ns, name, nodeName);
}

async function waitRunning(kc: KubeConfig, namespace: string, name: string, nodeName: string): Promise<RunningPod> {
  for (let i = 0; i < 200; i++) {
    const o = await kubeRequest<{ metadata: { uid: string }; status?: { phase?: string; podIP?: string } }>(kc, {
      path: resourcePath({ group: "", version: "v1", plural: "pods", namespace, name }),
    });
    if (o.status?.phase === "Running" && o.status.podIP !== undefined)
      return { name, namespace, uid: o.metadata.uid, podIP: o.status.podIP, nodeName };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pod ${namespace}/${name} did not start`);
}

/** Creates the AzureAssignedIdentity and, unless `pending`, marks it Assigned. */
export async function assign(
  kc: KubeConfig,
  pod: RunningPod,
  identity: { name: string; clientID: string; resourceID: string },
  selector: string,
  pending = false,
): Promise<void> {
  await create(kc, KINDS.AzureAssignedIdentity.plural, GROUP, VERSION, pod.namespace, {
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: { name: `${pod.name}-${identity.name}`, namespace: pod.namespace },
    spec: {
      pod: pod.name,
      podNamespace: pod.namespace,
      podUID: pod.uid,
      nodeName: pod.nodeName,
      azureIdentityRef: {
        name: identity.name,
        namespace: pod.namespace,
        type: 0,
        clientID: identity.clientID,
        resourceID: identity.resourceID,
      },
      azureBindingRef: { name: `${identity.name}-binding`, namespace: pod.namespace, selector },
    },
  });
  if (!pending) await markAssigned(kc, pod, identity.name);
}

/** As the reconciler does once Resource Manager is done: status through its subresource. */
export async function markAssigned(kc: KubeConfig, pod: RunningPod, identityName: string): Promise<void> {
  await kubeRequest(kc, {
    method: "PATCH",
    path: `${resourcePath({ group: GROUP, version: VERSION, plural: KINDS.AzureAssignedIdentity.plural, namespace: pod.namespace, name: `${pod.name}-${identityName}` })}/status`,
    contentType: "application/merge-patch+json",
    body: { status: { status: "Assigned" } },
  });
}

/** A pod-bound, audience-bound service-account token, as the kubelet projects it. */
export async function podToken(kc: KubeConfig, pod: RunningPod, audience: string): Promise<string> {
  const r = await kubeRequest<{ status: { token: string } }>(kc, {
    method: "POST",
    path: `${resourcePath({ group: "", version: "v1", plural: "serviceaccounts", namespace: pod.namespace, name: "default" })}/token`,
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: [audience],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid },
      },
    },
  });
  return r.status.token;
}

/** Options for an in-process sidecar-mode NMI forwarding to a node NMI's TLS port. */
export function sidecarNmiOptions(o: {
  host: string;
  nmiEndpoint: string;
  caPem: string;
  serverName: string;
  tokenFile: string;
  logger: NmiOptions["logger"];
}): NmiOptions {
  return {
    mode: "sidecar",
    host: o.host,
    port: 0,
    nmiEndpoint: o.nmiEndpoint,
    nmiCaPem: o.caPem,
    nmiServerName: o.serverName,
    tokenFile: o.tokenFile,
    imdsEndpoint: "",
    authorityHost: "",
    proxyPaths: [],
    assignmentWaitSeconds: 0,
    iptablesRedirect: false,
    podInterfaces: [],
    metadataAddress: "",
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
  };
}
