// The seed's walkthrough, run against the playground step by step: a team's pod reads a blob
// with ManagedIdentityCredential and no secret; another team cannot borrow the identity, and
// a pod that slipped past admission gets no token. Each step checks its outcome and says what
// happened; the story fails at the first step that did not do what it should.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StorageSharedKeyCredential, BlobServiceClient } from "@azure/storage-blob";
import {
  ADMISSION_MARK_ANNOTATION,
  ENV,
  FEDERATION,
  GROUP,
  PODID_POD_ANNOTATIONS,
  SIDECAR,
  VERSION,
} from "../../model/constants.ts";
import { kubeRequest } from "../../kube/request.ts";
import { messages } from "../../policy/messages.ts";
import { scaleSetId, vmId } from "../azure/index.ts";
import { runInPod } from "../pod-process.ts";
import type { Stack } from "../stack.ts";
import { kubectl } from "./kubectl.ts";
import { borrowingPod, labelledDeployment, seedIdentityAndBinding, withTokenSource } from "./manifests.ts";

const APP = resolve(fileURLToPath(new URL("./app.ts", import.meta.url)));
export const STORY = {
  teamA: "team-a",
  teamB: "team-b",
  selector: "myapp",
  app: "myapp",
  identity: "demo-reader",
  /** Step 8: a second application, on an identity that federates instead of being assigned. */
  federatedApp: "reportgen",
  federatedSelector: "reportgen",
  federatedIdentity: "demo-writer",
  container: "reports",
  blob: "quarterly.txt",
  content: "Q3 revenue: up 12%. Read by application X with no secret anywhere.\n",
} as const;

type Obj = Record<string, unknown> & {
  metadata: { name: string; namespace?: string; uid: string; annotations?: Record<string, string> };
};

export interface StepResult {
  title: string;
  ok: boolean;
  detail: string;
}

export class StepFailed extends Error {}

const fail = (msg: string): never => {
  throw new StepFailed(msg);
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return fail(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

interface Ctx {
  stack: Stack;
  kc: string;
  pod?: Obj;
  target?: string;
}

async function runningPod(ctx: Ctx, ns: string, app: string): Promise<Obj | undefined> {
  const list = await kubeRequest<{ items: Obj[] }>(ctx.stack.kc, {
    path: `/api/v1/namespaces/${ns}/pods`,
    query: { labelSelector: `app=${app}` },
  });
  return list.items.find((p) => (p.status as { phase?: string; podIP?: string } | undefined)?.phase === "Running");
}

function identityOf(ctx: Ctx, name: string = STORY.identity): { resourceId: string; clientId: string } {
  const id =
    ctx.stack.cloud.identities.find((i) => i.name === name) ?? fail(`the playground cloud has no identity ${name}`);
  return {
    resourceId: `/subscriptions/${ctx.stack.cloud.subscriptionId}/resourcegroups/${id.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${id.name}`,
    clientId: id.clientId,
  };
}

const steps: Array<{ title: string; run: (ctx: Ctx) => Promise<string> }> = [
  {
    title: "Two teams get a namespace each",
    async run(ctx) {
      for (const ns of [STORY.teamA, STORY.teamB]) {
        const r = await kubectl(ctx.kc, ["create", "namespace", ns]);
        if (r.code !== 0 && !r.stderr.includes("AlreadyExists"))
          fail(`kubectl create namespace ${ns}: ${r.stderr.trim()}`);
      }
      return `namespaces ${STORY.teamA} and ${STORY.teamB}`;
    },
  },
  {
    title: `Team A applies the seed's AzureIdentity and AzureIdentityBinding (kubectl apply -n ${STORY.teamA})`,
    async run(ctx) {
      const { resourceId, clientId } = identityOf(ctx);
      const r = await kubectl(
        ctx.kc,
        ["apply", "-n", STORY.teamA, "-f", "-"],
        seedIdentityAndBinding({ identityName: STORY.identity, resourceId, clientId, selector: STORY.selector }),
      );
      if (r.code !== 0) fail(`kubectl apply failed: ${r.stderr.trim()}`);
      return r.stdout.trim().split("\n").join("; ");
    },
  },
  {
    title: `Team A deploys application X labelled aadpodidbinding=${STORY.selector}`,
    async run(ctx) {
      const r = await kubectl(
        ctx.kc,
        ["apply", "-n", STORY.teamA, "-f", "-"],
        labelledDeployment(STORY.app, STORY.selector),
      );
      if (r.code !== 0) fail(`kubectl apply failed: ${r.stderr.trim()}`);
      ctx.pod = await until("the Deployment's pod to run", () => runningPod(ctx, STORY.teamA, STORY.app));
      const mark =
        ctx.pod.metadata.annotations?.[ADMISSION_MARK_ANNOTATION] ?? fail("the admitted pod carries no admission mark");
      const env = JSON.stringify(ctx.pod.spec);
      if (!env.includes(ENV.podIdentityAuthorityHost))
        fail(`the webhook did not inject ${ENV.podIdentityAuthorityHost}`);
      return `pod ${ctx.pod.metadata.name} admitted, marked (${mark.slice(0, 14)}...) and running on ${(ctx.pod.spec as { nodeName: string }).nodeName}`;
    },
  },
  {
    title: "The reconciler assigns the identity to the node's VM or scale set",
    async run(ctx) {
      const pod = ctx.pod ?? fail("no pod from the previous step");
      const aai = await until("the AzureAssignedIdentity to be Assigned", async () => {
        const list = await kubeRequest<{
          items: Array<{ spec: { podUID: string }; status?: { status?: string; target?: string } }>;
        }>(ctx.stack.kc, {
          path: `/apis/${GROUP}/${VERSION}/namespaces/${STORY.teamA}/azureassignedidentities`,
        });
        return list.items.find((a) => a.spec.podUID === pod.metadata.uid && a.status?.status === "Assigned");
      });
      ctx.target = aai.status?.target ?? fail("the AzureAssignedIdentity names no target");
      const { resourceId } = identityOf(ctx);
      const onArm = ctx.stack.azure.identitiesOf(ctx.target);
      const has = (onArm?.effective.userAssigned ?? []).some((k) => k.toLowerCase() === resourceId.toLowerCase());
      if (!has) fail(`Resource Manager does not show ${STORY.identity} on ${ctx.target}`);
      return `${STORY.identity} is Assigned; Resource Manager shows it on ${ctx.target.split("/").slice(-2).join("/")}`;
    },
  },
  {
    title: "Application X reads a blob with ManagedIdentityCredential (no secret)",
    async run(ctx) {
      const pod = ctx.pod ?? fail("no pod from the previous step");
      const az = ctx.stack.azure.azurite ?? fail("Azurite is not running");
      // The storage account's owner puts the blob there, with the account key; the app never sees a key.
      const tls = { tlsOptions: { ca: ctx.stack.azure.caPem } } as Record<string, unknown>;
      const admin = new BlobServiceClient(
        az.blobUrl,
        new StorageSharedKeyCredential(az.accountName, az.accountKey),
        tls,
      );
      const container = admin.getContainerClient(STORY.container);
      await container.createIfNotExists();
      await container.getBlockBlobClient(STORY.blob).upload(STORY.content, Buffer.byteLength(STORY.content));
      const r = await runInPod(pod, {
        container: "app",
        script: APP,
        caFile: ctx.stack.files.ca,
        env: { STORAGE_ACCOUNT_URL: az.blobUrl, BLOB_CONTAINER: STORY.container, BLOB_NAME: STORY.blob },
      });
      if (r.code !== 0) fail(`the application failed: ${r.stderr.trim()}`);
      if (r.stdout !== STORY.content)
        fail(`the application read ${JSON.stringify(r.stdout)}, expected ${JSON.stringify(STORY.content)}`);
      return `it read "${STORY.content.trim()}"`;
    },
  },
  {
    title: `Team B copies the label into ${STORY.teamB}: the webhook rejects the pod`,
    async run(ctx) {
      const r = await kubectl(ctx.kc, ["create", "-f", "-"], borrowingPod("borrower", STORY.teamB, STORY.selector));
      const expected = messages.crossNamespace(STORY.selector, STORY.teamB);
      if (r.code === 0) fail("the pod was admitted");
      const m =
        /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "([^"]+)" denied the request: (.*)$/m.exec(
          r.stderr,
        );
      if (m === null || m[2] !== expected) fail(`unexpected rejection: ${r.stderr.trim()}`);
      return `kubectl printed: ${r.stderr.trim()}`;
    },
  },
  {
    title: "A pod that bypassed admission (kube-system, copied mark) is refused a token",
    async run(ctx) {
      const pod = ctx.pod ?? fail("no pod from the previous steps");
      // Everything podid wrote on the admitted pod: its mark, NMI mode and admitted identities.
      const copied = Object.fromEntries(
        PODID_POD_ANNOTATIONS.map((a) => [a, pod.metadata.annotations?.[a] ?? ""] as const).filter(([, v]) => v !== ""),
      );
      // kube-system is outside the webhooks' namespaceSelector, as a misconfigured namespace would be.
      const env = [
        { name: SIDECAR.hostIpEnv, valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
        { name: ENV.podIdentityAuthorityHost, value: `http://$(${SIDECAR.hostIpEnv}):2579` },
      ];
      const r = await kubectl(
        ctx.kc,
        ["create", "-f", "-"],
        borrowingPod("sneaky", "kube-system", STORY.selector, copied, env),
      );
      if (r.code !== 0) fail(`could not create the pod in kube-system: ${r.stderr.trim()}`);
      const sneaky = await until("the sneaky pod to run", () => runningPod(ctx, "kube-system", "sneaky"));
      const az = ctx.stack.azure.azurite ?? fail("Azurite is not running");
      const out = await runInPod(sneaky, {
        container: "app",
        script: APP,
        caFile: ctx.stack.files.ca,
        env: { STORAGE_ACCOUNT_URL: az.blobUrl, BLOB_CONTAINER: STORY.container, BLOB_NAME: STORY.blob },
      });
      if (out.code === 0) fail(`the pod got a token and read the blob: ${out.stdout}`);
      if (!/admission mark/.test(out.stderr)) fail(`refused, but not for its admission mark: ${out.stderr.trim()}`);
      return `the NMI refused it: ${(/has no valid admission mark \(([^)]*)\)/.exec(out.stderr)?.[1] ?? out.stderr.trim()).slice(0, 160)}`;
    },
  },
  {
    title: `A second application, on an identity that federates, reads its blob: no scale-set write for it`,
    async run(ctx) {
      const { resourceId, clientId } = identityOf(ctx, STORY.federatedIdentity);
      const compute = (): number => ctx.stack.azure.calls.computeWrites();
      const before = compute();
      const manifests = withTokenSource(
        seedIdentityAndBinding({
          identityName: STORY.federatedIdentity,
          resourceId,
          clientId,
          selector: STORY.federatedSelector,
        }),
        "Federated",
      ).replace("myapp-azure-identity-binding", `${STORY.federatedApp}-binding`);
      const applied = await kubectl(ctx.kc, ["apply", "-n", STORY.teamA, "-f", "-"], manifests);
      if (applied.code !== 0) fail(`kubectl apply failed: ${applied.stderr.trim()}`);
      const deployed = await kubectl(
        ctx.kc,
        ["apply", "-n", STORY.teamA, "-f", "-"],
        labelledDeployment(STORY.federatedApp, STORY.federatedSelector),
      );
      if (deployed.code !== 0) fail(`kubectl apply failed: ${deployed.stderr.trim()}`);
      const pod = await until("the second application's pod to run", () =>
        runningPod(ctx, STORY.teamA, STORY.federatedApp),
      );
      await until("its AzureAssignedIdentity to be Assigned, Federated", async () => {
        const list = await kubeRequest<{
          items: Array<{ spec: { podUID: string }; status?: { status?: string; tokenSource?: string } }>;
        }>(ctx.stack.kc, { path: `/apis/${GROUP}/${VERSION}/namespaces/${STORY.teamA}/azureassignedidentities` });
        return list.items.find(
          (a) =>
            a.spec.podUID === pod.metadata.uid &&
            a.status?.status === "Assigned" &&
            a.status.tokenSource === "Federated",
        );
      });
      const credentials = ctx.stack.azure.federatedCredentials(resourceId);
      const credential =
        credentials.find((c) => c.name === FEDERATION.credentialName) ??
        fail(
          `Resource Manager shows no federated credential ${FEDERATION.credentialName} on ${STORY.federatedIdentity}`,
        );
      const az = ctx.stack.azure.azurite ?? fail("Azurite is not running");
      const r = await runInPod(pod, {
        container: "app",
        script: APP,
        caFile: ctx.stack.files.ca,
        env: { STORAGE_ACCOUNT_URL: az.blobUrl, BLOB_CONTAINER: STORY.container, BLOB_NAME: STORY.blob },
      });
      if (r.code !== 0) fail(`the application failed: ${r.stderr.trim()}`);
      if (r.stdout !== STORY.content) fail(`the application read ${JSON.stringify(r.stdout)}`);
      const writes = compute() - before;
      if (writes !== 0) fail(`Resource Manager recorded ${writes} VM or scale-set writes meanwhile`);
      const sub = ctx.stack.cloud.subscriptionId;
      const machines = [
        ...ctx.stack.cloud.scaleSets.map((ss) => scaleSetId(sub, ss.resourceGroup, ss.name)),
        ...ctx.stack.cloud.vms.map((vm) => vmId(sub, vm.resourceGroup, vm.name)),
      ];
      const onMachines = machines.some((m) =>
        JSON.stringify(ctx.stack.azure.identitiesOf(m) ?? {})
          .toLowerCase()
          .includes(resourceId.toLowerCase()),
      );
      if (onMachines) fail(`${STORY.federatedIdentity} was assigned to a scale set`);
      return (
        `${STORY.federatedApp} read the blob as ${STORY.federatedIdentity} through federated credential ` +
        `${credential.name} (subject ${credential.subject}); 0 VM or scale-set writes`
      );
    },
  },
];

/** True when every step ran and did what it should. */
export const storySucceeded = (results: StepResult[]): boolean =>
  results.length === steps.length && results.every((r) => r.ok);

export async function runStory(stack: Stack, say: (line: string) => void): Promise<StepResult[]> {
  const ctx: Ctx = { stack, kc: stack.files.kubeconfig };
  const results: StepResult[] = [];
  for (const [i, step] of steps.entries()) {
    say(`[${i + 1}/${steps.length}] ${step.title}`);
    try {
      const detail = await step.run(ctx);
      results.push({ title: step.title, ok: true, detail });
      say(`      ok: ${detail}`);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      results.push({ title: step.title, ok: false, detail });
      say(`      FAILED: ${detail}`);
      break;
    }
  }
  return results;
}
