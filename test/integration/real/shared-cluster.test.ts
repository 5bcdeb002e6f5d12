// The shared-cluster holes, tried against a real kube-apiserver with podid's webhook (called by
// the API server over HTTPS), reconciler (with the Resource Manager stand-in through the real
// Azure SDK) and NMI (with the IMDS stand-in) running against it, as a tenant would try them:
// an exception of one's own, rewriting podid's annotations, a webhook rule broad enough to catch
// the reconciler's writes, an identity bound after admission, a terminating pod, and a replayed
// sidecar token. A private control plane: this file registers webhooks for the whole API group.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { stringify } from "yaml";
import { kubeRequest } from "../../../src/kube/request.ts";
import {
  ADMITTED_IDENTITIES_ANNOTATION,
  NMI_MODE_ANNOTATION,
  NMI_TLS,
  SIDECAR,
  SYSTEM_NAMESPACE,
} from "../../../src/model/constants.ts";
import { runNmi, type RunningNmi } from "../../../src/nmi/main.ts";
import { sidecarNmiOptions } from "../nmi/cluster-fixture.ts";
import { identityId, nodesOf } from "../../../src/playground/azure/index.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { registerNode, runPod } from "../../../src/playground/control-plane/kubelet.ts";
import { createArmVmIdentityClient } from "../../../src/reconciler/arm-client.ts";
import { createArmIdentityReader } from "../../../src/reconciler/identity-reader.ts";
import { runReconciler, type RunningReconciler } from "../../../src/reconciler/run.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";
import { runWebhook, type RunningWebhook } from "../../../src/webhook/main.ts";
import { reconcilerCredential, startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { eventually } from "../../helpers/eventually.ts";
import { kubectlOn, privateRealCluster } from "../../helpers/real-cluster.ts";

const NET = Number(process.env.PODID_PLAYGROUND_NODE_NET ?? 0);
const NODE = "aks-nodepool1-12345678-vmss000000";
const NODE_IP = `127.29.${NET}.1`;
const podIp = (n: number): string => `127.28.${NET}.${n}`;
const RESOURCES_HOOK = "validate-resources.podid.aadpodidentity.k8s.io";

type Obj = Record<string, unknown>;
const doc = (o: Obj): string => stringify(o);

/** podid's webhook configurations, pointed at the in-process webhook by URL, the resources rule broad. */
function webhookConfigs(url: string, caPem: string): string {
  const clientConfig = (path: string) => ({ url: `${url}${path}`, caBundle: Buffer.from(caPem).toString("base64") });
  const common = {
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy: "Fail",
    timeoutSeconds: 5,
    namespaceSelector: {
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "podid-system"] },
      ],
    },
  };
  const pods = { operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] };
  const labelled = { matchExpressions: [{ key: "aadpodidbinding", operator: "Exists" }] };
  return [
    doc({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: "podid-mutating" },
      webhooks: [
        {
          ...common,
          name: "mutate-pods.podid.aadpodidentity.k8s.io",
          clientConfig: clientConfig("/mutate/pods"),
          rules: [pods],
          objectSelector: labelled,
        },
      ],
    }),
    doc({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "podid-validating" },
      webhooks: [
        {
          ...common,
          name: "validate-pods.podid.aadpodidentity.k8s.io",
          clientConfig: clientConfig("/validate/pods"),
          rules: [{ ...pods, operations: ["CREATE", "UPDATE"] }],
          objectSelector: labelled,
        },
        {
          // Broader than podid needs: every kind of the group, AzureAssignedIdentity included.
          ...common,
          name: RESOURCES_HOOK,
          clientConfig: clientConfig("/validate/resources"),
          rules: [
            {
              operations: ["CREATE", "UPDATE"],
              apiGroups: ["aadpodidentity.k8s.io"],
              apiVersions: ["v1"],
              resources: ["*"],
              scope: "*",
            },
          ],
        },
      ],
    }),
  ].join("---\n");
}

describe("real API server: one namespace cannot reach another's identity", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let azure: AzureFixture;
  let webhook: RunningWebhook | undefined;
  let reconciler: RunningReconciler | undefined;
  let nmi: RunningNmi | undefined;
  const dir = mkdtempSync(join(tmpdir(), "podid-real-shared-"));
  const nmiCa = createCertificateAuthority("podid NMI CA (test)");
  const k = (args: string[], stdin?: string) => kubectlOn(cp, args, stdin);
  const must = async (args: string[], stdin?: string): Promise<string> => {
    const r = await k(args, stdin);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  let kubelet: { name: string; clientId: string; resourceID: string };
  let writer: { name: string; clientId: string; resourceID: string };
  let ips = 0;

  const tenant = async (ns: string, sidecar = false): Promise<void> => {
    await must(["create", "namespace", ns]);
    const identity = (name: string, i: typeof kubelet) =>
      doc({
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzureIdentity",
        metadata: { name },
        spec: { type: 0, ResourceID: i.resourceID, ClientID: i.clientId },
      });
    const binding = doc({
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentityBinding",
      metadata: { name: "reader-binding" },
      spec: { AzureIdentity: "reader", Selector: "reader", ...(sidecar ? { nmiMode: "sidecar" } : {}) },
    });
    await must(
      ["apply", "-n", ns, "-f", "-"],
      [identity("reader", kubelet), identity("writer", writer), binding].join("---\n"),
    );
  };

  /** Creates a labelled pod through the webhook and runs it on NODE; returns its IP and uid. */
  async function startPod(
    ns: string,
    name: string,
  ): Promise<{ ip: string; uid: string; annotations: Record<string, string> }> {
    const pod = doc({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels: { aadpodidbinding: "reader" } },
      spec: { containers: [{ name: "app", image: "app:1" }] },
    });
    await eventually(
      async () => ((await k(["create", "-n", ns, "-f", "-"], pod)).code === 0 ? true : undefined),
      `pod ${name}`,
    );
    const ip = podIp(++ips);
    await runPod(cp.kc, ns, name, NODE, { podIP: ip, hostIP: NODE_IP });
    const got = await kubeRequest<{ metadata: { uid: string; annotations: Record<string, string> } }>(cp.kc, {
      path: `/api/v1/namespaces/${ns}/pods/${name}`,
    });
    return { ip, uid: got.metadata.uid, annotations: got.metadata.annotations };
  }

  /** A token request from `ip`, as the pod's SDK sends it to the node's NMI. */
  async function askNmi(ip: string, query = ""): Promise<{ status: number; body: Obj }> {
    const agent = new Agent({ localAddress: ip });
    try {
      const r = await request(
        `${nmi!.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com${query}`,
        {
          dispatcher: agent,
          headers: { Metadata: "true" },
        },
      );
      return { status: r.statusCode, body: (await r.body.json()) as Obj };
    } finally {
      await agent.close();
    }
  }
  const assignedStatus = async (ns: string, name: string): Promise<string | undefined> => {
    const r = await k(["get", "azureassignedidentity", "-n", ns, name, "-o", "jsonpath={.status.status}"]);
    return r.code === 0 && r.stdout !== "" ? r.stdout : undefined;
  };
  const untilAssigned = (ns: string, name: string): Promise<true> =>
    eventually(async () => ((await assignedStatus(ns, name)) === "Assigned" ? true : undefined), `${name} Assigned`);

  before(async () => {
    [cp, azure] = await Promise.all([privateRealCluster(), startTestAzure({ lroDurationMs: 50 })]);
    const sub = azure.cloud.subscriptionId;
    const pick = (name: string) => {
      const i = azure.cloud.identities.find((x) => x.name === name)!;
      return { name, clientId: i.clientId, resourceID: identityId(sub, i.resourceGroup, i.name) };
    };
    // The kubelet identity is on every node's VM from the start, so IMDS serves it at once.
    kubelet = pick(azure.cloud.identities[0]!.name);
    writer = pick("demo-writer");
    await must(["apply", "-k", new URL("../../../config/crd", import.meta.url).pathname]);
    await must(["wait", "--for=condition=Established", "crd", "--all", "--timeout=30s"]);
    await must(["create", "namespace", SYSTEM_NAMESPACE]);
    await registerNode(cp.kc, {
      name: NODE,
      internalIP: NODE_IP,
      providerID: nodesOf(azure.cloud).find((n) => n.name === NODE)!.providerID,
    });

    const webCa = createCertificateAuthority("podid webhook CA (test)");
    const serving = webCa.issue({ commonName: "127.0.0.1", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    const nmiServing = nmiCa.issue({
      commonName: "nmi",
      dnsNames: [NMI_TLS.serverName(SYSTEM_NAMESPACE)],
      ipAddresses: [],
    });
    const files = { cert: "w.crt", key: "w.key", keys: "keys", nmiCert: "n.crt", nmiKey: "n.key", nmiCa: "n-ca.crt" };
    const f = Object.fromEntries(Object.entries(files).map(([k2, v]) => [k2, join(dir, v)])) as typeof files;
    writeFileSync(f.cert, serving.certPem);
    writeFileSync(f.key, serving.keyPem);
    writeFileSync(f.keys, "real-cluster-admission-key-0123456789ab\n");
    writeFileSync(f.nmiCert, nmiServing.certPem);
    writeFileSync(f.nmiKey, nmiServing.keyPem);
    writeFileSync(f.nmiCa, nmiCa.certPem);

    webhook = await runWebhook({
      kubeconfig: cp.kubeconfigPath,
      host: "127.0.0.1",
      port: 0,
      tlsCertFile: f.cert,
      tlsKeyFile: f.key,
      admissionKeyFile: f.keys,
      selfSigned: false,
      namespace: SYSTEM_NAMESPACE,
      serviceName: "podid-webhook",
      sidecarImage: "podid:test",
      nmiCaFile: f.nmiCa,
      logger: silentLogger(),
    });
    await must(["apply", "-f", "-"], webhookConfigs(`https://127.0.0.1:${webhook.port}`, webCa.certPem));
    const arm = { credential: reconcilerCredential(azure), endpoint: azure.pg.armUrl, caPem: azure.pg.caPem };
    reconciler = await runReconciler(
      cp.kc,
      createArmVmIdentityClient({ ...arm, pollIntervalMs: 20 }),
      {
        namespace: SYSTEM_NAMESPACE,
        leaderElect: false,
        batchWindowMs: 50,
        graceMs: 60_000,
        armCacheMs: 60_000,
        resyncMs: 60_000,
        invalidRetryMs: 60_000,
      },
      silentLogger(),
      createArmIdentityReader(arm),
    );
    nmi = await runNmi({
      mode: "daemonset",
      nodeName: NODE,
      host: NODE_IP,
      port: 0,
      imdsEndpoint: azure.pg.imdsUrl(NODE),
      admissionKeyFile: f.keys,
      kubeconfig: cp.kubeconfigPath,
      authorityHost: azure.pg.authorityHost,
      proxyPaths: [],
      assignmentWaitSeconds: 10,
      iptablesRedirect: false,
      podInterfaces: [],
      metadataAddress: "169.254.169.254",
      tlsCertFile: f.nmiCert,
      tlsKeyFile: f.nmiKey,
      sidecarPort: 0,
      tokenFile: "",
      logger: silentLogger(),
    });
    await tenant("team-a");
    await tenant("team-s", true);
  });

  after(async () => {
    await nmi?.close();
    await reconciler?.stop();
    await webhook?.close();
    await Promise.allSettled([cp?.stop(), azure?.pg.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("attack: a tenant's own exception is refused; one without PodLabels is invalid; a policy allows them", async () => {
    const exc = (name: string, spec: Obj) =>
      doc({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzurePodIdentityException", metadata: { name }, spec });
    const mine = await k(["apply", "-n", "team-a", "-f", "-"], exc("mine", { PodLabels: { noaad: true } }));
    assert.equal(mine.code, 1);
    assert.match(
      mine.stderr,
      new RegExp(
        `admission webhook "${RESOURCES_HOOK}" denied the request: ` +
          `AzurePodIdentityException "mine": exceptions are not allowed in namespace "team-a"`,
      ),
    );
    await must(
      ["apply", "-f", "-"],
      doc({
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzurePodIdentityPolicy",
        metadata: { name: "team-a-exceptions" },
        spec: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "team-a" } }, exceptions: "Allow" },
      }),
    );
    const empty = await eventually(async () => {
      const r = await k(["apply", "-n", "team-a", "-f", "-"], exc("empty", { PodLabels: {} }));
      return /exceptions are not allowed/.test(r.stderr) ? undefined : r;
    }, "the webhook to see the policy");
    assert.match(
      empty.stderr,
      /AzurePodIdentityException "empty" is invalid: spec\.PodLabels: expected at least one label/,
    );
    await must(["apply", "-n", "team-a", "-f", "-"], exc("allowed", { PodLabels: { noaad: true } }));
    await must(["delete", "azurepodidentitypolicy", "team-a-exceptions"]);
  });

  it("serves an admitted pod its identity; the reconciler's own writes pass a rule for the whole API group", async () => {
    const p = await startPod("team-a", "app");
    await untilAssigned("team-a", "app-reader");
    const r = await askNmi(p.ip);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.client_id, kubelet.clientId);
    // An AzureAssignedIdentity written by hand goes through the same broad rule: allowed, not judged.
    await must(
      ["apply", "-n", "team-a", "-f", "-"],
      doc({
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzureAssignedIdentity",
        metadata: { name: "by-hand" },
        spec: {
          pod: "x",
          podNamespace: "team-a",
          podUID: "u",
          nodeName: NODE,
          azureIdentityRef: { name: "reader", namespace: "team-a", type: 0, clientID: kubelet.clientId },
          azureBindingRef: { name: "b", namespace: "team-a", selector: "reader" },
        },
      }),
    );
  });

  it("attack: podid's annotations cannot be changed after admission", async () => {
    await startPod("team-a", "annotated");
    for (const [ann, value] of [
      [NMI_MODE_ANNOTATION, "sidecar"],
      [ADMITTED_IDENTITIES_ANNOTATION, "[]"],
    ] as const) {
      const r = await k(["annotate", "--overwrite", "-n", "team-a", "pod/annotated", `${ann}=${value}`]);
      assert.equal(r.code, 1, `${ann}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `annotation ${ann} is written by podid's webhook at creation and cannot be added, changed or removed`,
        ),
      );
    }
    await must(["annotate", "-n", "team-a", "pod/annotated", "team.example/owner=a"]);
  });

  it("an identity bound after admission: the pod keeps its own, is refused the new one, and gets an Event to restart", async () => {
    const p = await startPod("team-a", "early");
    await untilAssigned("team-a", "early-reader");
    await must(
      ["apply", "-n", "team-a", "-f", "-"],
      doc({
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzureIdentityBinding",
        metadata: { name: "writer-binding" },
        spec: { AzureIdentity: "writer", Selector: "reader" },
      }),
    );
    const event = await eventually(async () => {
      const r = await k([
        "get",
        "events",
        "-n",
        "team-a",
        "--field-selector",
        "involvedObject.name=early,reason=IdentityNeedsRestart",
        "-o",
        "jsonpath={.items[*].message}",
      ]);
      return r.stdout !== "" ? r.stdout : undefined;
    }, "the IdentityNeedsRestart Event");
    assert.match(event, /identity writer was bound to selector reader .*Recreate the pod/);
    const own = await askNmi(p.ip, `&client_id=${kubelet.clientId}`);
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const later = await askNmi(p.ip, `&client_id=${writer.clientId}`);
    assert.equal(later.status, 403);
    assert.match(String(later.body.error_description), /Recreate the pod to use it/);
    assert.equal(
      await assignedStatus("team-a", "early-writer"),
      undefined,
      "no assignment for the unadmitted identity",
    );
    await must(["delete", "azureidentitybinding", "-n", "team-a", "writer-binding"]);
  });

  it("a terminating pod keeps its tokens until its grace period ends, then gets none", async () => {
    const p = await startPod("team-a", "leaving");
    await untilAssigned("team-a", "leaving-reader");
    await must(["delete", "pod", "-n", "team-a", "leaving", "--grace-period=60", "--wait=false"]);
    await eventually(async () => {
      const r = await askNmi(p.ip);
      // Served while the NMI already sees the deletion (its watch delivers it within moments).
      const seen = await k(["get", "pod", "-n", "team-a", "leaving", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
      return seen.stdout !== "" && r.status === 200 ? true : undefined;
    }, "a token during the grace period");
    await new Promise((r) => setTimeout(r, 1500)); // the NMI has had its watch event by now
    assert.equal((await askNmi(p.ip)).status, 200, "still served in the grace period");
    await must(["delete", "pod", "-n", "team-a", "leaving", "--grace-period=1", "--wait=false"]);
    const after = await eventually(async () => {
      const r = await askNmi(p.ip);
      return r.status === 403 ? r : undefined;
    }, "refusal once the grace period is over");
    assert.match(String(after.body.error_description), /grace period is over|belongs to no pod/);
  });

  it("sidecar mode: TLS to the node NMI, a token bound to the pod; a recorded token replayed for a recreated pod is refused", async () => {
    const p = await startPod("team-s", "side");
    const sidecarEnv = await must([
      "get",
      "pod",
      "-n",
      "team-s",
      "side",
      "-o",
      `jsonpath={.spec.containers[?(@.name=="podid-nmi")].env}`,
    ]);
    const env = JSON.parse(sidecarEnv) as Array<{ name: string; value?: string }>;
    assert.equal(env.find((e) => e.name === SIDECAR.nodeEndpointEnv)?.value, "https://$(PODID_HOST_IP):2578");
    assert.equal(env.find((e) => e.name === SIDECAR.caEnv)?.value, nmiCa.certPem);
    assert.equal(p.annotations[NMI_MODE_ANNOTATION], "sidecar");
    await untilAssigned("team-s", "side-reader");
    const tokenFor = async (uid: string): Promise<string> =>
      (
        await kubeRequest<{ status: { token: string } }>(cp.kc, {
          method: "POST",
          path: "/api/v1/namespaces/team-s/serviceaccounts/default/token",
          body: {
            spec: {
              audiences: ["podid-nmi"],
              expirationSeconds: 3600,
              boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "side", uid },
            },
          },
        })
      ).status.token;
    const tokenFile = join(dir, "side-token");
    writeFileSync(tokenFile, await tokenFor(p.uid));
    const sidecar = await runNmi(
      sidecarNmiOptions({
        host: "127.0.0.1",
        nmiEndpoint: nmi!.sidecarUrl!,
        caPem: nmiCa.certPem,
        serverName: NMI_TLS.serverName(SYSTEM_NAMESPACE),
        tokenFile,
        logger: silentLogger(),
      }),
    );
    try {
      const ask = async () => {
        const r = await request(`${sidecar.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r`, {
          headers: { Metadata: "true" },
        });
        return { status: r.statusCode, body: (await r.body.json()) as Obj };
      };
      const ok = await ask();
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(
        (await askNmi(p.ip)).status,
        403,
        "the pod asking by its address is refused: sidecar mode trusts no address",
      );
      // Someone recorded the token; the pod is recreated under the same name (a new uid).
      await must(["delete", "pod", "-n", "team-s", "side", "--grace-period=0", "--force"]);
      await startPod("team-s", "side");
      const replay = await eventually(async () => {
        const r = await ask();
        return r.status === 403 ? r : undefined;
      }, "the replayed token refused");
      assert.match(String(replay.body.error_description), /not accepted by the Kubernetes API|not on node/);
    } finally {
      await sidecar.close();
    }
  });
});
