// What the kubelet does for a projected serviceAccountToken volume, for programs the playground
// runs as processes: a TokenRequest for the service account and audience, written to a file
// (atomically: a new file renamed over the old, as the kubelet's atomic writer swaps it) and
// requested again once 80 % of its lifetime has passed, the kubelet's rule. The NMI's federation
// token (audience api://AzureADTokenExchange) comes from here in the playground.
import { renameSync, writeFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../kube/request.ts";

export interface ProjectedTokenOptions {
  kc: KubeConfig;
  namespace: string;
  serviceAccount: string;
  audience: string;
  expirationSeconds: number;
  file: string;
  onError?: (err: unknown) => void;
}

export interface ProjectedToken {
  /** Requests and writes a fresh token now (as a rotation). */
  refresh(): Promise<void>;
  stop(): void;
}

export async function projectServiceAccountToken(opts: ProjectedTokenOptions): Promise<ProjectedToken> {
  const write = async (): Promise<void> => {
    const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/serviceaccounts/${encodeURIComponent(opts.serviceAccount)}/token`;
    const r = await kubeRequest<{ status: { token: string } }>(opts.kc, {
      method: "POST",
      path,
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [opts.audience], expirationSeconds: opts.expirationSeconds },
      },
    });
    const tmp = `${opts.file}.${process.pid}.tmp`;
    writeFileSync(tmp, r.status.token, { mode: 0o600 });
    renameSync(tmp, opts.file);
  };
  await write();
  const timer = setInterval(() => {
    write().catch((err: unknown) => opts.onError?.(err));
  }, opts.expirationSeconds * 800);
  timer.unref();
  return { refresh: write, stop: () => clearInterval(timer) };
}
