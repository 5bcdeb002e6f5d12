// An outage of podid's webhook blocks identity and nothing else, on a real kube-apiserver with
// the real controllers: with the webhook unreachable (its process gone) or untrusted (a bad
// certificate), unlabelled Deployments, StatefulSets, DaemonSets, Jobs and CronJobs are created,
// scaled and rolled, their controllers create and replace pods, podid-system and kube-system
// admit everything, labelled pods already running can still be updated, and a labelled pod is
// still refused. With the webhook up, an update that keeps a now-disallowed label is admitted
// with a warning, so a policy change never stalls a rollout.
import assert from "node:assert/strict";
import { SYSTEM_NAMESPACE } from "../../../src/model/constants.ts";
import { pointWebhooksAt } from "../../../src/playground/control-plane/webhooks.ts";
import { freePort } from "../../../src/playground/free-port.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";
import { KEPT_LABEL_WARNING } from "../../../src/webhook/workloads.ts";
import { SEED, seedDoc } from "../../fixtures/seed/index.ts";
import { eventually } from "../../helpers/eventually.ts";
import { SIMULATED_NODE_LABEL, sharedPodid, type PodidCluster, type RunningProgram } from "../../helpers/podid-real.ts";

const CONFIGS = { mutating: "podid-mutating", validating: "podid-validating" };

const container = (image = "example.azurecr.io/app:1.0") => [{ name: "app", image }];
function template(labels: Record<string, string>, extra: Record<string, unknown> = {}) {
  return { metadata: { labels }, spec: { containers: container(), ...extra } };
}

/** One of each workload kind, unlabelled (no aadpodidbinding), as a multi-document apply. */
function workloads(name: string): string {
  const sel = (app: string) => ({ matchLabels: { app } });
  const docs = [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name },
      spec: { replicas: 1, selector: sel(name), template: template({ app: name }) },
    },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: `${name}-db` },
      spec: {
        replicas: 1,
        serviceName: `${name}-db`,
        selector: sel(`${name}-db`),
        template: template({ app: `${name}-db` }),
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: `${name}-agent` },
      spec: {
        selector: sel(`${name}-agent`),
        template: template({ app: `${name}-agent` }, { nodeSelector: SIMULATED_NODE_LABEL }),
      },
    },
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: `${name}-once` },
      spec: { template: template({ app: `${name}-once` }, { restartPolicy: "Never" }) },
    },
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: `${name}-nightly` },
      spec: {
        schedule: "0 3 * * *",
        jobTemplate: { spec: { template: template({ app: `${name}-nightly` }, { restartPolicy: "Never" }) } },
      },
    },
  ];
  return docs.map((d) => JSON.stringify(d)).join("\n");
}

const labelledPod = (name: string, namespace?: string): string =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, ...(namespace !== undefined ? { namespace } : {}), labels: { aadpodidbinding: SEED.selector } },
    spec: { containers: container() },
  });

async function ok(p: PodidCluster, args: string[], stdin?: string): Promise<string> {
  const r = await p.kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Runs `kubectl rollout status` until the rollout is complete. */
const rolledOut = (p: PodidCluster, ns: string, what: string) =>
  ok(p, ["rollout", "status", what, "-n", ns, "--timeout=60s"]);

/** Waits for a Running pod matching the label selector. */
const runningPod = (p: PodidCluster, ns: string, selector: string) =>
  eventually(async () => {
    const out = await ok(p, ["get", "pods", "-n", ns, "-l", selector, "-o", "json"]);
    const pods = (JSON.parse(out) as { items: Array<{ status: { phase?: string } }> }).items;
    return pods.some((x) => x.status.phase === "Running") ? true : undefined;
  }, `a Running pod with ${selector}`);

interface Outage {
  name: string;
  /** Makes the webhook unusable; returns the message kubectl prints for a refused labelled pod. */
  start(p: PodidCluster, webhook: RunningProgram): Promise<RegExp>;
}

const OUTAGES: Outage[] = [
  {
    name: "the webhook unreachable (no process listening)",
    async start(p) {
      const port = await freePort();
      await pointWebhooksAt(p.cp.kc, CONFIGS, `https://127.0.0.1:${port}`, p.ca.certPem);
      return new RegExp(
        `failed calling webhook "mutate-pods\\.podid\\.aadpodidentity\\.k8s\\.io": failed to call webhook: Post "https://127\\.0\\.0\\.1:${port}/mutate/pods\\?timeout=5s": dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`,
      );
    },
  },
  {
    name: "the webhook's certificate not trusted",
    async start(p, webhook) {
      const stranger = createCertificateAuthority("not the CA that signed the webhook");
      await pointWebhooksAt(p.cp.kc, CONFIGS, webhook.url, stranger.certPem);
      return /failed calling webhook "mutate-pods\.podid\.aadpodidentity\.k8s\.io": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/mutate\/pods\?timeout=5s": x509: certificate signed by unknown authority/;
    },
  },
];

describe("real cluster: a webhook outage blocks only identity", function () {
  this.timeout(180_000);
  let p: PodidCluster;
  let webhook: RunningProgram;
  let ns: string;

  before(async () => {
    ({ p, webhook } = await sharedPodid());
    ns = await p.namespace("outage");
    for (const kind of ["AzureIdentity", "AzureIdentityBinding"])
      await ok(p, ["apply", "-n", ns, "-f", "-"], JSON.stringify(seedDoc(kind)));
    await eventually(async () => {
      const r = await p.kubectl(["create", "-n", ns, "-f", "-"], labelledPod("running-before"));
      return r.code === 0 ? true : undefined;
    }, "a labelled pod admitted while the webhook is up");
  });
  after(() => p.pointWebhooksAt(webhook.port));

  for (const [i, outage] of OUTAGES.entries()) {
    describe(outage.name, () => {
      let refused: RegExp;
      const name = `w${i}`;
      before(async () => {
        refused = await outage.start(p, webhook);
      });
      after(() => p.pointWebhooksAt(webhook.port));

      it("creates unlabelled Deployments, StatefulSets, DaemonSets, Jobs and CronJobs, and their controllers run them", async () => {
        await ok(p, ["apply", "-n", ns, "-f", "-"], workloads(name));
        await rolledOut(p, ns, `deployment/${name}`);
        await rolledOut(p, ns, `statefulset/${name}-db`);
        await rolledOut(p, ns, `daemonset/${name}-agent`);
        // The Job controller creates its pod (completing it is the kubelet's report, which ours never makes).
        await runningPod(p, ns, `job-name=${name}-once`);
        await ok(p, ["create", "job", "-n", ns, `${name}-now`, `--from=cronjob/${name}-nightly`]);
        await runningPod(p, ns, `job-name=${name}-now`);
      });

      it("scales and rolls them: kubectl scale, patch, set image and rollout restart", async () => {
        await ok(p, ["scale", "-n", ns, `deployment/${name}`, `statefulset/${name}-db`, "--replicas=2"]);
        await rolledOut(p, ns, `deployment/${name}`);
        await rolledOut(p, ns, `statefulset/${name}-db`);
        await ok(p, ["set", "image", "-n", ns, `deployment/${name}`, "app=example.azurecr.io/app:2.0"]);
        await rolledOut(p, ns, `deployment/${name}`);
        await ok(p, ["rollout", "restart", "-n", ns, `statefulset/${name}-db`, `daemonset/${name}-agent`]);
        await rolledOut(p, ns, `statefulset/${name}-db`);
        await rolledOut(p, ns, `daemonset/${name}-agent`);
        await ok(p, ["patch", "-n", ns, `cronjob/${name}-nightly`, "-p", '{"spec":{"suspend":true}}']);
        await ok(p, ["delete", "-n", ns, `job/${name}-once`, "--wait=false"]);
      });

      it("refuses a labelled pod, saying why", async () => {
        const r = await p.kubectl(["create", "-n", ns, "-f", "-"], labelledPod(`refused-${i}`));
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /^Error from server \(InternalError\): error when creating "STDIN": Internal error occurred: /m,
        );
        assert.match(r.stderr, refused);
      });

      it("admits a labelled Deployment, whose ReplicaSet then reports its pods refused", async () => {
        const d = { ...seedDoc("Deployment"), metadata: { name: `labelled-${i}` } };
        await ok(p, ["apply", "-n", ns, "-f", "-"], JSON.stringify(d));
        const failure = await eventually(async () => {
          const out = await ok(p, ["get", "replicasets", "-n", ns, "-l", "app=myapp", "-o", "json"]);
          const sets = (
            JSON.parse(out) as { items: Array<{ status: { conditions?: Array<{ type: string; message: string }> } }> }
          ).items;
          return sets.flatMap((s) => s.status.conditions ?? []).find((c) => c.type === "ReplicaFailure");
        }, "the ReplicaSet's ReplicaFailure condition");
        assert.match(failure.message, /failed calling webhook "mutate-pods\.podid\.aadpodidentity\.k8s\.io"/);
        await ok(p, ["delete", "-n", ns, `deployment/labelled-${i}`]);
      });

      it("updates a labelled pod that is already running (controllers' and kubectl's writes fail open)", async () => {
        await ok(p, ["label", "-n", ns, "pod/running-before", `outage=${i}`, "--overwrite"]);
        await ok(p, ["annotate", "-n", ns, "pod/running-before", `seen-outage-${i}=yes`]);
      });

      it("admits everything in podid-system and kube-system, labelled pods included", async () => {
        for (const system of [SYSTEM_NAMESPACE, "kube-system"]) {
          await ok(p, ["create", "-f", "-"], labelledPod(`system-${i}-${process.pid}`, system));
          await ok(p, ["delete", "pod", "-n", system, `system-${i}-${process.pid}`, "--wait=false"]);
        }
      });
    });
  }

  describe("with the webhook up: a policy change never stalls a rollout", () => {
    const app = "policy-changed";
    before(async () => {
      const d = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: app },
        spec: {
          selector: { matchLabels: { app } },
          template: template({ app, aadpodidbinding: SEED.selector }),
        },
      };
      await ok(p, ["apply", "-n", ns, "-f", "-"], JSON.stringify(d));
      await rolledOut(p, ns, `deployment/${app}`);
      // The selector loses its binding: new pods with the label are refused from now on.
      await ok(p, ["delete", "-n", ns, "azureidentitybinding", SEED.bindingName]);
      await eventually(async () => {
        const r = await p.kubectl(["create", "-n", ns, "--dry-run=server", "-f", "-"], labelledPod("probe"));
        return r.code === 1 ? true : undefined;
      }, "the webhook to see the binding gone");
    });

    it("admits an update that keeps the label, with the denial as a kubectl warning", async () => {
      const r = await p.kubectl(["set", "image", "-n", ns, `deployment/${app}`, "app=example.azurecr.io/app:2.0"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /^Warning: Deployment "policy-changed" in namespace "[^"]+": pod template spec\.template: label aadpodidbinding=myapp: /m,
      );
      assert.ok(r.stderr.includes(KEPT_LABEL_WARNING), r.stderr);
      // The Deployment controller's writes to both ReplicaSets are admitted too: scaling to zero completes.
      await ok(p, ["scale", "-n", ns, `deployment/${app}`, "--replicas=0"]);
      await rolledOut(p, ns, `deployment/${app}`);
    });

    it("refuses an update that changes the label to one that is not allowed", async () => {
      const r = await p.kubectl([
        "patch",
        "-n",
        ns,
        `deployment/${app}`,
        "-p",
        JSON.stringify({ spec: { template: { metadata: { labels: { aadpodidbinding: "elsewhere" } } } } }),
      ]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /admission webhook "validate-workloads\.podid\.aadpodidentity\.k8s\.io" denied the request: Deployment "policy-changed"/,
      );
    });
  });
});
