// A cluster (playground API server, nodes from the playground cloud) and the Azure stand-ins
// for the reconciler's integration tests, with the podid CRDs installed, and helpers to create
// pods and wait for state. Everything goes through the real clients: client-node for
// Kubernetes, @azure/arm-compute + @azure/identity for Resource Manager.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { KINDS, GROUP, SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { kubeRequest, isAlreadyExists } from "../../../src/kube/request.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { createArmVmIdentityClient } from "../../../src/reconciler/arm-client.ts";
import { createArmIdentityReader } from "../../../src/reconciler/identity-reader.ts";
import { createArmFederatedCredentialClient } from "../../../src/reconciler/federated-client.ts";
import { runReconciler, type ReconcilerSettings, type RunningReconciler } from "../../../src/reconciler/run.ts";
import { nodesOf } from "../../../src/playground/azure/index.ts";
import { identityId } from "../../../src/playground/azure/ids.ts";
import { reconcilerCredential, startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";

export const NS = "team-a";
export const RG = "mc_podid_playground_westeurope";
export const NODES = {
  uniform0: "aks-nodepool1-12345678-vmss000000",
  uniform1: "aks-nodepool1-12345678-vmss000001",
  flex: "aks-flexpool-87654321-vmss000000",
  vm: "aks-standalone-0",
} as const;

const CRD_DIR = new URL("../../../config/crd/", import.meta.url);

/** podid's CRDs from config/crd when present, else minimal ones (any fields kept, status subresource on AzureAssignedIdentity). */
function crds(): unknown[] {
  if (existsSync(CRD_DIR)) {
    const docs = readdirSync(CRD_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) =>
        parseAllDocuments(readFileSync(new URL(f, CRD_DIR), "utf8")).map((d) => d.toJS() as { kind?: string }),
      )
      .filter((d) => d?.kind === "CustomResourceDefinition");
    if (docs.length >= Object.keys(KINDS).length) return docs;
  }
  return Object.values(KINDS).map((k) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${GROUP}`, annotations: { "api-approved.kubernetes.io": "unapproved, podid test" } },
    spec: {
      group: GROUP,
      scope: k.namespaced ? "Namespaced" : "Cluster",
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase() },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          ...(k.kind === "AzureAssignedIdentity" ? { subresources: { status: {} } } : {}),
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  }));
}

export const until = async (
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

export interface World {
  c: TestCluster;
  f: AzureFixture;
  idOf(name: string): string;
  targetId(node: keyof typeof NODES): string;
  /** User-assigned identity names on a target (lower-cased names, sorted). */
  onTarget(node: keyof typeof NODES): string[];
  start(overrides?: Partial<ReconcilerSettings>): Promise<RunningReconciler>;
  addIdentity(name: string, resourceID?: string, clientID?: string): Promise<void>;
  /** An AzureIdentity of the cloud's identity `name` and its binding (selector `name`) in `ns`, with a token source. */
  bindIdentity(ns: string, name: string, tokenSource?: "NodeAssigned" | "Federated"): Promise<void>;
  /** Sets (or clears, with null) an AzureIdentity's spec.tokenSource. */
  setTokenSource(ns: string, name: string, tokenSource: "NodeAssigned" | "Federated" | null): Promise<void>;
  addNamespace(ns: string): Promise<void>;
  /** POSTs an object, ignoring AlreadyExists. */
  post(path: string, body: unknown): Promise<void>;
  addPod(name: string, selector: string, node: keyof typeof NODES): Promise<void>;
  deletePod(name: string): Promise<void>;
  assigned(): Promise<
    Array<{ metadata: { name: string }; status?: { status?: string; reason?: string; message?: string } }>
  >;
  events(): Promise<Array<{ reason: string; involvedObject: { name: string }; message: string }>>;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const f = await startTestAzure({ lroDurationMs: 50 });
  const c = await startTestCluster({ nodes: nodesOf(f.cloud) });
  const running: RunningReconciler[] = [];
  const post = async (path: string, body: unknown): Promise<void> => {
    try {
      await kubeRequest(c.kc, { method: "POST", path, body });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  };
  for (const crd of crds()) await post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  await until("CRDs served", async () => {
    try {
      await kubeRequest(c.kc, { path: `/apis/${GROUP}/v1/azureassignedidentities` });
      await kubeRequest(c.kc, { path: `/apis/${GROUP}/v1/azurepodidentitypolicies` });
      return true;
    } catch {
      return false;
    }
  });
  for (const ns of [SYSTEM_NAMESPACE, NS])
    await post("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  const arm = createArmVmIdentityClient({
    credential: reconcilerCredential(f),
    endpoint: f.pg.armUrl,
    caPem: f.pg.caPem,
    pollIntervalMs: 20,
  });
  // The real @azure/arm-msi against the Resource Manager stand-in.
  const identities = createArmIdentityReader({
    credential: reconcilerCredential(f),
    endpoint: f.pg.armUrl,
    caPem: f.pg.caPem,
  });
  // The real @azure/arm-msi for federated identity credentials too.
  const credentials = createArmFederatedCredentialClient({
    credential: reconcilerCredential(f),
    endpoint: f.pg.armUrl,
    caPem: f.pg.caPem,
  });
  const sub = f.cloud.subscriptionId;
  const node = nodesOf(f.cloud);
  const targetId = (n: keyof typeof NODES): string => {
    const pid = node.find((x) => x.name === NODES[n])!.providerID.replace(/^azure:\/\//, "");
    return n.startsWith("uniform") ? pid.replace(/\/virtualMachines\/\d+$/, "") : pid;
  };
  const idOf = (name: string): string => {
    const i = f.cloud.identities.find((x) => x.name === name);
    return i !== undefined ? identityId(sub, i.resourceGroup, i.name) : identityId(sub, "podid-identities", name);
  };
  return {
    c,
    f,
    idOf,
    targetId,
    onTarget: (n) =>
      (f.pg.identitiesOf(targetId(n))?.model.userAssigned ?? []).map((id) => id.split("/").pop()!.toLowerCase()).sort(),
    async start(overrides = {}) {
      const r = await runReconciler(
        c.kc,
        arm,
        {
          namespace: SYSTEM_NAMESPACE,
          leaderElect: false,
          batchWindowMs: 50,
          graceMs: 400,
          armCacheMs: 60_000,
          resyncMs: 60_000,
          invalidRetryMs: 60_000,
          metricsPort: 0,
          metricsHost: "127.0.0.1",
          leaseDurationMs: 1000,
          renewDeadlineMs: 800,
          retryPeriodMs: 100,
          ...overrides,
        },
        silentLogger(),
        { identities, credentials },
      );
      running.push(r);
      return r;
    },
    async addIdentity(name, resourceID, clientID) {
      const i = f.cloud.identities.find((x) => x.name === name);
      await post(`/apis/${GROUP}/v1/namespaces/${NS}/azureidentities`, {
        apiVersion: `${GROUP}/v1`,
        kind: "AzureIdentity",
        metadata: { name },
        spec: {
          type: 0,
          ResourceID: resourceID ?? idOf(name),
          ClientID: clientID ?? i?.clientId ?? "00000000-0000-4000-8000-00000000dead",
        },
      });
      await post(`/apis/${GROUP}/v1/namespaces/${NS}/azureidentitybindings`, {
        apiVersion: `${GROUP}/v1`,
        kind: "AzureIdentityBinding",
        metadata: { name: `${name}-binding` },
        spec: { AzureIdentity: name, Selector: name },
      });
    },
    post,
    async addNamespace(ns) {
      await post("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    },
    async bindIdentity(ns, name, tokenSource) {
      const i = f.cloud.identities.find((x) => x.name === name)!;
      await post(`/apis/${GROUP}/v1/namespaces/${ns}/azureidentities`, {
        apiVersion: `${GROUP}/v1`,
        kind: "AzureIdentity",
        metadata: { name },
        spec: { type: 0, ResourceID: idOf(name), ClientID: i.clientId, ...(tokenSource ? { tokenSource } : {}) },
      });
      await post(`/apis/${GROUP}/v1/namespaces/${ns}/azureidentitybindings`, {
        apiVersion: `${GROUP}/v1`,
        kind: "AzureIdentityBinding",
        metadata: { name: `${name}-binding` },
        spec: { AzureIdentity: name, Selector: name },
      });
    },
    async setTokenSource(ns, name, tokenSource) {
      await kubeRequest(c.kc, {
        method: "PATCH",
        path: `/apis/${GROUP}/v1/namespaces/${ns}/azureidentities/${name}`,
        contentType: "application/merge-patch+json",
        body: { spec: { tokenSource } },
      });
    },
    async addPod(name, selector, n) {
      await post(`/api/v1/namespaces/${NS}/pods`, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { aadpodidbinding: selector } },
        spec: { nodeName: NODES[n], containers: [{ name: "app", image: "busybox" }] },
      });
    },
    async deletePod(name) {
      await kubeRequest(c.kc, {
        method: "DELETE",
        path: `/api/v1/namespaces/${NS}/pods/${name}`,
        body: { gracePeriodSeconds: 0 },
      });
    },
    async assigned() {
      const l = await kubeRequest<{ items: Awaited<ReturnType<World["assigned"]>> }>(c.kc, {
        path: `/apis/${GROUP}/v1/namespaces/${NS}/azureassignedidentities`,
      });
      return l.items;
    },
    async events() {
      const l = await kubeRequest<{ items: Awaited<ReturnType<World["events"]>> }>(c.kc, {
        path: `/api/v1/namespaces/${NS}/events`,
      });
      return l.items;
    },
    async stop() {
      await Promise.allSettled(running.map((r) => r.stop()));
      await c.stop();
      await f.pg.stop();
    },
  };
}
