// Reviews, pods and a webhook state built from the seed's objects, for the webhook's tests.
import { randomUUID } from "node:crypto";
import {
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
} from "../../../src/model/parse.ts";
import type { AzurePodIdentityPolicy, Parsed } from "../../../src/model/types.ts";
import { parseAdmissionKeys } from "../../../src/policy/index.ts";
import { memoryState, type WebhookState } from "../../../src/webhook/state.ts";
import { seedDoc } from "../../fixtures/seed/index.ts";

export const KEYS = parseAdmissionKeys("test-key-0123456789abcdef0123456789abcdef");

function must<T>(p: Parsed<T>): T {
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return p.value;
}

/** The seed's identity, binding and exception in team-a; namespace team-b has labels but nothing bound. */
export function seedState(policies: AzurePodIdentityPolicy[] = []): WebhookState {
  return memoryState({
    namespaces: { "team-a": { team: "a" }, "team-b": { team: "b" } },
    identities: [must(parseAzureIdentity(seedDoc("AzureIdentity", "team-a")))],
    bindings: [must(parseAzureIdentityBinding(seedDoc("AzureIdentityBinding", "team-a")))],
    exceptions: [must(parseAzurePodIdentityException(seedDoc("AzurePodIdentityException", "team-a")))],
    policies,
  });
}

/** A ReplicaSet-made pod as the mutating webhook sees it (generateName, no name, no uid). */
export function rsPod(
  labels: Record<string, string> = { app: "myapp", aadpodidbinding: "myapp" },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "myapp-6d8f7c9b5-",
      labels,
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "myapp-6d8f7c9b5", uid: randomUUID(), controller: true },
      ],
    },
    spec: {
      serviceAccountName: "default",
      containers: [
        { name: "myapp", image: "mcr.microsoft.com/azure-cli:2.61.0", env: [{ name: "LOG_LEVEL", value: "info" }] },
      ],
      ...extra,
    },
  };
}

export interface ReviewOpts {
  operation?: string;
  namespace?: string;
  kind?: { group: string; version: string; kind: string };
  oldObject?: unknown;
  name?: string;
}

export function review(object: unknown, o: ReviewOpts = {}): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: randomUUID(),
      kind: o.kind ?? { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: o.namespace ?? "team-a",
      ...(o.name !== undefined ? { name: o.name } : {}),
      operation: o.operation ?? "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
      object,
      ...(o.oldObject !== undefined ? { oldObject: o.oldObject } : {}),
      dryRun: false,
    },
  };
}
