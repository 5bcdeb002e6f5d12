// Admission through a real kube-apiserver's chain, with podid's webhook running as config/'s
// podid-webhook ServiceAccount: mutating then validating webhooks, a later mutating webhook's
// change answered by reinvoking podid, server dry runs, the Deployment and ReplicaSet
// controllers' pods, and the denials as the real kubectl prints them.
import assert from "node:assert/strict";
import { ADMISSION_MARK_ANNOTATION, ENV, NMI_MODE_ANNOTATION } from "../../../src/model/constants.ts";
import { loadAdmissionKeys, verifyAdmissionMark } from "../../../src/policy/admission-mark.ts";
import { SEED, seedDoc } from "../../fixtures/seed/index.ts";
import { eventually } from "../../helpers/eventually.ts";
import { podManifest, sharedPodid, type PodidCluster } from "../../helpers/podid-real.ts";
import { jsonPatch, startWebhook } from "../playground/kube/webhook-server.ts";

type Pod = {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    serviceAccountName: string;
    containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
  };
};

const pod = (name: string, labels: Record<string, string>): string => podManifest(name, labels);
const envOf = (p: Pod, container: string): string[] =>
  (p.spec.containers.find((c) => c.name === container)?.env ?? []).map((e) => e.name);

describe("real cluster: admission through the real chain", function () {
  this.timeout(120_000);
  let p: PodidCluster;
  let ns: string;
  let other: string;

  before(async () => {
    ({ p } = await sharedPodid());
    ns = await p.namespace("adm");
    other = await p.namespace("adm-other");
    for (const kind of ["AzureIdentity", "AzureIdentityBinding"]) {
      const r = await p.kubectl(["apply", "-n", ns, "-f", "-"], JSON.stringify(seedDoc(kind)));
      assert.equal(r.code, 0, r.stderr);
    }
    // The webhook's informers see the binding a moment after it is stored.
    await eventually(async () => {
      const r = await p.kubectl(
        ["create", "-n", ns, "--dry-run=server", "-f", "-"],
        pod("probe", { aadpodidbinding: SEED.selector }),
      );
      return r.code === 0 ? true : undefined;
    }, "the webhook to know the binding");
  });

  it("mutates then validates a labelled pod: the admission mark and the env the Azure SDK reads", async () => {
    const r = await p.kubectl(
      ["create", "-n", ns, "-o", "json", "-f", "-"],
      pod("marked", { aadpodidbinding: SEED.selector }),
    );
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as Pod;
    const mark = created.metadata.annotations?.[ADMISSION_MARK_ANNOTATION];
    assert.equal(created.metadata.annotations?.[NMI_MODE_ANNOTATION], "daemonset");
    const check = verifyAdmissionMark(loadAdmissionKeys(p.keyFile), mark, {
      namespace: ns,
      serviceAccountName: created.spec.serviceAccountName,
      selector: SEED.selector,
      nmiMode: "daemonset",
      identities: [{ name: SEED.identityName, clientID: SEED.clientID, resourceID: SEED.resourceID }],
    });
    assert.deepEqual(check, { valid: true });
    assert.deepEqual(
      envOf(created, "app")
        .filter((n) => n.startsWith("AZURE_"))
        .sort(),
      [ENV.clientId, ENV.podIdentityAuthorityHost],
    );
  });

  it("leaves a pod without the label alone: podid's webhooks are not even called", async () => {
    const r = await p.kubectl(["create", "-n", ns, "-o", "json", "-f", "-"], pod("plain", { app: "plain" }));
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as Pod;
    assert.equal(created.metadata.annotations?.[ADMISSION_MARK_ANNOTATION], undefined);
    assert.deepEqual(envOf(created, "app"), []);
  });

  it("refuses cross-namespace reuse with the message kubectl prints", async () => {
    const r = await p.kubectl(["create", "-n", other, "-f", "-"], pod("borrower", { aadpodidbinding: SEED.selector }));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^Error from server \\(Forbidden\\): error when creating "STDIN": admission webhook "(mutate|validate)-pods\\.podid\\.aadpodidentity\\.k8s\\.io" denied the request: label aadpodidbinding=myapp: no AzureIdentityBinding with selector "myapp" exists in namespace "${other}".*cross-namespace reuse`,
        "m",
      ),
    );
  });

  it("server dry run: the pod comes back admitted and patched, and nothing is stored; a denial is one too", async () => {
    const r = await p.kubectl(
      ["create", "-n", ns, "--dry-run=server", "-o", "json", "-f", "-"],
      pod("dry", { aadpodidbinding: SEED.selector }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as Pod).metadata.annotations?.[ADMISSION_MARK_ANNOTATION]);
    const got = await p.kubectl(["get", "pod", "dry", "-n", ns]);
    assert.match(got.stderr, /pods "dry" not found/);
    const denied = await p.kubectl(
      ["create", "-n", other, "--dry-run=server", "-f", "-"],
      pod("dry", { aadpodidbinding: SEED.selector }),
    );
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /denied the request: label aadpodidbinding=myapp/);
  });

  it("reinvocation: a later webhook adds a container, podid is called again and gives it the env too", async () => {
    // A second mutating webhook, called after podid's: it adds a container to the pod.
    const adder = await startWebhook(p.ca);
    adder.decide = () =>
      jsonPatch([{ op: "add", path: "/spec/containers/-", value: { name: "added-later", image: "sidecar:1" } }]);
    const cfg = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      // Sorted after podid-mutating: the API server calls it second.
      metadata: { name: `zz-adder-${ns}` },
      webhooks: [
        {
          name: "adder.test.podid.example",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Fail",
          clientConfig: {
            url: `https://127.0.0.1:${adder.port}/add`,
            caBundle: Buffer.from(p.ca.certPem).toString("base64"),
          },
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
          objectSelector: { matchLabels: { reinvoke: ns } },
        },
      ],
    };
    try {
      assert.equal((await p.kubectl(["apply", "-f", "-"], JSON.stringify(cfg))).code, 0);
      const r = await p.kubectl(
        ["create", "-n", ns, "-o", "json", "-f", "-"],
        pod("reinvoked", { aadpodidbinding: SEED.selector, reinvoke: ns }),
      );
      assert.equal(r.code, 0, r.stderr);
      const created = JSON.parse(r.stdout) as Pod;
      assert.deepEqual(
        created.spec.containers.map((c) => c.name),
        ["app", "added-later"],
      );
      assert.ok(envOf(created, "added-later").includes(ENV.podIdentityAuthorityHost), JSON.stringify(created.spec));
      assert.ok(created.metadata.annotations?.[ADMISSION_MARK_ANNOTATION]);
    } finally {
      await p.kubectl(["delete", "mutatingwebhookconfiguration", cfg.metadata.name, "--ignore-not-found"]);
      await adder.stop();
    }
  });

  it("admits the pods the Deployment and ReplicaSet controllers create (generateName), and they run", async () => {
    const d = seedDoc("Deployment", ns);
    const r = await p.kubectl(["apply", "-f", "-"], JSON.stringify(d));
    assert.equal(r.code, 0, r.stderr);
    const running = await eventually(async () => {
      const list = await p.kubectl(["get", "pods", "-n", ns, "-l", "app=myapp", "-o", "json"]);
      const items = (JSON.parse(list.stdout) as { items: Array<Pod & { status: { phase?: string; podIP?: string } }> })
        .items;
      return items.find((x) => x.status.phase === "Running");
    }, "the Deployment's pod to run");
    assert.match(running.metadata.name, /^myapp-[a-z0-9]+-[a-z0-9]{5}$/);
    assert.ok(running.metadata.annotations?.[ADMISSION_MARK_ANNOTATION]);
    assert.match(running.status.podIP ?? "", /^127\.1\d\./);
  });

  it("refuses adding the label to a running pod, with the real API server's message", async () => {
    const r = await p.kubectl(["label", "pod", "plain", "-n", ns, `aadpodidbinding=${SEED.selector}`]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Error from server \(Forbidden\): admission webhook "validate-pod-updates\.podid\.aadpodidentity\.k8s\.io" denied the request: /m,
    );
  });
});
