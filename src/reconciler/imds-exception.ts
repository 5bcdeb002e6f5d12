// The reconciler's own way to IMDS. With AKS's cloud config naming the node's managed identity
// (the kubelet identity), the reconciler asks 169.254.169.254 for its Resource Manager token,
// and the NMI's redirect sends that request to the NMI like any pod's; the NMI passes a pod's
// request on to the node's IMDS only when an AzurePodIdentityException of its namespace matches
// it. The reconciler creates that exception itself when it starts: shipped in config/, the
// object would be sent in the same `kubectl apply -k config/default` as its CRD and refused
// (`no matches for kind "AzurePodIdentityException"`) on every fresh cluster.
import type { KubeConfig } from "@kubernetes/client-node";
import { isAlreadyExists, kubeRequest, resourcePath } from "../kube/request.ts";
import { API_VERSION, FIELD_MANAGER, GROUP, KINDS, RECONCILER, VERSION } from "../model/constants.ts";
import type { Logger } from "../shared/log.ts";

/** The exception, as data: the reconciler's pods (by their Deployment's label) in its namespace. */
export function imdsException(namespace: string): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: KINDS.AzurePodIdentityException.kind,
    metadata: {
      name: RECONCILER.imdsExceptionName,
      namespace,
      labels: { "app.kubernetes.io/part-of": "podid", "app.kubernetes.io/managed-by": "podid-reconciler" },
    },
    spec: { PodLabels: { ...RECONCILER.podLabels } },
  };
}

export type EnsureResult = "created" | "exists" | "failed";

/** Creates the exception unless it exists; an existing one (perhaps edited by an admin) is left alone. */
export async function ensureImdsException(kc: KubeConfig, namespace: string, log: Logger): Promise<EnsureResult> {
  const path = resourcePath({
    group: GROUP,
    version: VERSION,
    plural: KINDS.AzurePodIdentityException.plural,
    namespace,
  });
  try {
    await kubeRequest(kc, {
      method: "POST",
      path,
      query: { fieldManager: FIELD_MANAGER },
      body: imdsException(namespace),
    });
    log.info(
      { namespace, name: RECONCILER.imdsExceptionName },
      "created the AzurePodIdentityException that lets this reconciler reach the node's IMDS",
    );
    return "created";
  } catch (e) {
    if (isAlreadyExists(e)) return "exists";
    // Not fatal: the reconciler still runs; its token requests fail (and are retried) until it exists.
    log.warn(
      { err: e, namespace, name: RECONCILER.imdsExceptionName },
      "could not create the AzurePodIdentityException for this reconciler; the NMI refuses its IMDS calls until it exists",
    );
    return "failed";
  }
}
