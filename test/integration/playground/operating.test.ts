// Operating podid on the full playground: a real Prometheus (Debian's) scrapes every program
// with podid's rules loaded, every /metrics passes `promtool check metrics` with bounded labels
// only, and an alert goes pending in the real Prometheus when a program stops. And "no app
// before its identity": a pod annotated wait-for-identity gets `podid wait` as its first init
// container, run here as that container's process (its env and args, its pod's address); once it
// exits 0 the app's first token request through the real ManagedIdentityCredential succeeds, and
// for an identity Resource Manager refuses it fails in bounded time naming the identity and why.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { GROUP, VERSION, WAIT } from "../../../src/model/constants.ts";
import { kubeRequest } from "../../../src/kube/request.ts";
import { runInPod, type PodProcessResult } from "../../../src/playground/pod-process.ts";
import { prometheusApi, PODID_RULES_FILE } from "../../../src/playground/prometheus.ts";
import { promtool } from "../../../src/playground/prometheus-bin.ts";
import { startStack, type Stack } from "../../../src/playground/stack.ts";
import { kubectl } from "../../../src/playground/story/kubectl.ts";
import { seedIdentityAndBinding } from "../../../src/playground/story/manifests.ts";
import { silentLogger } from "../../../src/shared/log.ts";

const CLI = resolve(fileURLToPath(new URL("../../../src/cli.ts", import.meta.url)));
const FIRST_TOKEN = resolve(fileURLToPath(new URL("./fixtures/first-token.ts", import.meta.url)));

/** Label names podid's own series may carry: small fixed sets, never a pod, namespace, client ID or token. */
const BOUNDED_LABELS = new Set([
  "route",
  "result",
  "reason",
  "status",
  "code",
  "kind",
  "outcome",
  "operation",
  "resource",
]);
const PROMETHEUS_LABELS = new Set(["__name__", "job", "instance", "le"]);

type Obj = Record<string, unknown> & { metadata: { name: string; uid: string }; spec: Record<string, unknown> };
interface Target {
  labels: { job: string; instance: string };
  scrapeUrl: string;
  health: string;
  lastError: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function getText(url: string, caPem: string): Promise<string> {
  return new Promise((done, fail) => {
    https
      .get(url, { ca: caPem }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => done(body));
      })
      .on("error", fail);
  });
}

const scrape = (t: Target, caPem: string): Promise<string> =>
  t.scrapeUrl.startsWith("https:") ? getText(t.scrapeUrl, caPem) : fetch(t.scrapeUrl).then((r) => r.text());

/** `name{a="x",b="y"} 1` → the label names of every podid_ sample. */
function podidLabelNames(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const m = /^(podid_[a-z0-9_:]+)(?:\{(.*)\})? /.exec(line);
    if (m === null) continue;
    const names = out.get(m[1]!) ?? new Set<string>();
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) names.add(l[1]!);
    out.set(m[1]!, names);
  }
  return out;
}

function waitingDeployment(name: string, selector: string, wait: string): string {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, aadpodidbinding: selector }, annotations: { [WAIT.annotation]: wait } },
        spec: { containers: [{ name: "app", image: "example.azurecr.io/application-x:1.0" }] },
      },
    },
  });
}

describe("operating podid: a real Prometheus, rules, and apps that wait for their identity", function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), "podid-operating-"));
  let stack: Stack;
  let prom: string;

  before(async () => {
    // Resource Manager's writes take 3 s here, so the assignment is still running when the pod starts.
    stack = await startStack({ stateDir: dir, logger: silentLogger(), prometheus: true, lroDurationMs: 3000 });
    prom = stack.prometheus!.url;
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const targets = (): Promise<Target[]> =>
    prometheusApi<{ activeTargets: Target[] }>(prom, "targets").then((d) => d.activeTargets);

  describe("Prometheus", () => {
    it("scrapes every program of the playground, and nothing off loopback", async () => {
      const up = await until("every target up", async () => {
        const t = await targets();
        return t.length === 6 && t.every((x) => x.health === "up") ? t : undefined;
      });
      const jobs = up.map((t) => t.labels.job).sort();
      assert.deepEqual(jobs, ["podid-nmi", "podid-nmi", "podid-nmi", "podid-nmi", "podid-reconciler", "podid-webhook"]);
      for (const t of up) assert.match(new URL(t.scrapeUrl).hostname, /^127\./);
      const config = parse(readFileSync(stack.prometheus!.configFile, "utf8")) as Record<string, unknown>;
      assert.deepEqual(
        Object.keys(config).sort(),
        ["global", "rule_files", "scrape_configs"],
        "no alerting, no remote write",
      );
      for (const job of config.scrape_configs as Array<Record<string, unknown>>)
        assert.deepEqual(
          Object.keys(job).filter((k) => k.endsWith("_sd_configs")),
          [],
          `${String(job.job_name)} uses service discovery`,
        );
      assert.match(stack.prometheus!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it("gets from every program a /metrics that promtool accepts, with bounded labels only", async () => {
      for (const t of await targets()) {
        const text = await scrape(t, readFileSync(stack.files.ca, "utf8"));
        const check = await promtool(["check", "metrics"], text);
        assert.equal(check.code, 0, `${t.labels.job} ${t.scrapeUrl}: ${check.stdout}${check.stderr}`);
        assert.equal(check.stdout + check.stderr, "", `${t.labels.job}: promtool said something`);
        const series = podidLabelNames(text);
        assert.ok(series.has("podid_kube_watch_healthy"), `${t.labels.job} reports no watch health`);
        for (const [name, labels] of series)
          for (const l of labels)
            assert.ok(BOUNDED_LABELS.has(l) || l === "le", `${t.labels.job}: ${name} has label ${l}`);
      }
    });

    it("stores only bounded labels on podid's series, as Prometheus sees them", async () => {
      const names = await prometheusApi<string[]>(prom, "labels", { "match[]": '{__name__=~"podid_.+"}' });
      assert.ok(names.length > 3);
      for (const n of names) assert.ok(BOUNDED_LABELS.has(n) || PROMETHEUS_LABELS.has(n), `label ${n}`);
      const healthy = await prometheusApi<{ result: Array<{ metric: { job: string }; value: [number, string] }> }>(
        prom,
        "query",
        { query: "min by (job) (podid_kube_watch_healthy)" },
      );
      assert.deepEqual(healthy.result.map((r) => [r.metric.job, r.value[1]]).sort(), [
        ["podid-nmi", "1"],
        ["podid-reconciler", "1"],
        ["podid-webhook", "1"],
      ]);
    });

    it("loads podid's rules, evaluates them without error, and the reconciler's /readyz answers", async () => {
      const data = await until("the rules evaluated", async () => {
        const d = await prometheusApi<{
          groups: Array<{
            file: string;
            rules: Array<{ name: string; health: string; lastError?: string; state?: string }>;
          }>;
        }>(prom, "rules");
        return d.groups.every((g) => g.rules.every((r) => r.health === "ok")) ? d : undefined;
      });
      assert.deepEqual([...new Set(data.groups.map((g) => g.file))], [PODID_RULES_FILE]);
      const alerts = data.groups.flatMap((g) => g.rules).filter((r) => r.state !== undefined);
      assert.equal(alerts.length, 14);
      const reconciler = (await targets()).find((t) => t.labels.job === "podid-reconciler")!;
      const ready = await fetch(reconciler.scrapeUrl.replace(/\/metrics$/, "/readyz"));
      assert.equal(ready.status, 200);
    });
  });

  describe("wait-for-identity", () => {
    const ns = "team-wait";
    const identity = (name: string) => {
      const id = stack.cloud.identities.find((i) => i.name === name);
      const rg = id?.resourceGroup ?? "podid-identities";
      return {
        resourceId: `/subscriptions/${stack.cloud.subscriptionId}/resourcegroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
        clientId: id?.clientId ?? "c11e0009-0000-4000-8000-000000000009",
      };
    };

    async function deploy(app: string, identityName: string, selector: string, wait: string): Promise<Obj> {
      const { resourceId, clientId } = identity(identityName);
      const objects = seedIdentityAndBinding({ identityName, resourceId, clientId, selector }).replace(
        "name: myapp-azure-identity-binding",
        `name: ${selector}-binding`,
      );
      for (const [what, manifest] of [
        ["identity and binding", objects],
        ["deployment", waitingDeployment(app, selector, wait)],
      ] as const) {
        const r = await kubectl(stack.files.kubeconfig, ["apply", "-n", ns, "-f", "-"], manifest);
        assert.equal(r.code, 0, `kubectl apply ${what}: ${r.stderr}`);
      }
      return until(`a running pod of ${app}`, async () => {
        const list = await kubeRequest<{ items: Obj[] }>(stack.kc, {
          path: `/api/v1/namespaces/${ns}/pods`,
          query: { labelSelector: `app=${app}` },
        });
        return list.items.find((p) => (p.status as { podIP?: string } | undefined)?.podIP !== undefined);
      });
    }

    const runWait = (pod: Obj): Promise<PodProcessResult> => {
      const init = (pod.spec.initContainers as Array<{ name: string; args: string[] }>)[0]!;
      return runInPod(pod, {
        container: init.name,
        script: CLI,
        args: init.args,
        caFile: stack.files.ca,
        timeoutMs: 90_000,
      });
    };

    async function nmiRequests(node: string): Promise<Map<string, number>> {
      const text = await fetch(`${stack.nmiUrl(node)}/metrics`).then((r) => r.text());
      const out = new Map<string, number>();
      for (const m of text.matchAll(/^podid_nmi_requests_total\{([^}]*)\} (\d+)$/gm)) {
        const result = /result="([a-z]+)"/.exec(m[1]!)?.[1] ?? "";
        out.set(result, (out.get(result) ?? 0) + Number(m[2]));
      }
      return out;
    }

    before(async () => {
      const r = await kubectl(stack.files.kubeconfig, ["create", "namespace", ns]);
      assert.equal(r.code, 0, r.stderr);
    });

    it("starts the app only once its identity answers: its first ManagedIdentityCredential request succeeds", async () => {
      const pod = await deploy("reporter", "demo-writer", "reporter", "true");
      const init = (pod.spec.initContainers as Array<{ name: string; image: string; args: string[] }>)[0]!;
      assert.equal(init.name, WAIT.containerName);
      assert.deepEqual(init.args, [
        "wait",
        `--identity=demo-writer:${identity("demo-writer").clientId}`,
        `--timeout=${WAIT.defaultTimeoutSeconds}s`,
      ]);
      const waited = await runWait(pod);
      assert.equal(waited.code, 0, waited.stderr);
      assert.match(waited.stderr, /podid wait: identity "demo-writer" answers\npodid wait: ready after/);
      const assigned = await kubeRequest<{ items: Array<{ spec: { podUID: string }; status?: { status?: string } }> }>(
        stack.kc,
        { path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/azureassignedidentities` },
      );
      assert.equal(assigned.items.find((a) => a.spec.podUID === pod.metadata.uid)?.status?.status, "Assigned");

      const node = pod.spec.nodeName as string;
      const before = await nmiRequests(node);
      const app = await runInPod(pod, { container: "app", script: FIRST_TOKEN, caFile: stack.files.ca });
      assert.equal(app.code, 0, app.stderr);
      assert.match(app.stdout, /^token, expires \d{4}-/);
      const after = await nmiRequests(node);
      const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
      assert.equal(delta("token"), 1, "the app asked once and got its token");
      for (const k of ["refused", "unavailable", "error"]) assert.equal(delta(k), 0, `the app got a ${k} answer`);
    });

    it("fails in bounded time naming the identity and the AzureAssignedIdentity's failure", async () => {
      const pod = await deploy("ghostly", "ghost", "ghostly", "25s");
      const started = Date.now();
      const waited = await runWait(pod);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(waited.code, 1, waited.stderr);
      assert.ok(seconds >= 25, `gave up after ${seconds}s, before its 25 s`);
      const last = waited.stderr.trim().split("\n").pop() ?? "";
      assert.match(
        last,
        new RegExp(
          `^podid wait: identity "ghost" \\(client ID ${identity("ghost").clientId}\\) did not answer through the NMI at http://127\\.[0-9.]+:2579 within 25s; last answer: HTTP 403: .*IdentityNotFound: AzureIdentity team-wait/ghost: Resource Manager has no identity .*/userAssignedIdentities/ghost`,
        ),
      );
      const reconciler = (await targets()).find((t) => t.labels.job === "podid-reconciler")!;
      const text = await fetch(reconciler.scrapeUrl).then((r) => r.text());
      // The reconciler reads each identity before it assigns one (issue 13): a missing one is IdentityNotFound.
      assert.match(text, /^podid_assignment_failures_total\{reason="IdentityNotFound"\} [1-9]/m);
      assert.match(text, /^podid_assigned_identities\{status="Failed"\} [1-9]/m);
    });
  });

  describe("an alert in the real Prometheus", () => {
    it("goes pending when a node's NMI stops answering", async () => {
      const nmi = stack.programs.find((p) => p.name.startsWith("nmi-"))!;
      await nmi.stop();
      const instance = new URL(stack.nmiUrl(nmi.name.slice(4))).host;
      const pending = await until("PodidNmiDown pending", async () => {
        const d = await prometheusApi<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(
          prom,
          "alerts",
        );
        return d.alerts.find((a) => a.labels.alertname === "PodidNmiDown" && a.labels.instance === instance);
      });
      assert.equal(pending.state, "pending");
      assert.equal(pending.labels.severity, "critical");
    });
  });
});
