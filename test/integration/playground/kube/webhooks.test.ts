// Admission through a real Node HTTPS webhook registered with webhook configurations, driven
// through client-node: what mutating and validating webhooks receive (generateName pods
// without name or uid, then the final name and uid), JSONPatch applied, reinvocation,
// selectors, subresources, service references resolved with the `<svc>.<ns>.svc` TLS name.
import assert from "node:assert/strict";
import { AppsV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { eventually } from "../../../helpers/eventually.ts";
import { startTestCluster, type TestCluster } from "../../../helpers/cluster.ts";
import { createCertificateAuthority } from "../../../../src/shared/pki.ts";
import { allow, jsonPatch, startWebhook, type Review, type TestWebhook } from "./webhook-server.ts";

const pod = (name: { name?: string; generateName?: string }, labels: Record<string, string> = {}): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { ...name, labels },
  spec: { containers: [{ name: "app", image: "nginx:1.27" }] },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("playground kube API admission webhooks", function () {
  this.timeout(30_000);
  const ca = createCertificateAuthority("webhook CA");
  let cluster: TestCluster;
  let hook: TestWebhook;
  let core: CoreV1Api;

  const configure = async (
    kind: "Mutating" | "Validating",
    name: string,
    webhooks: Array<Record<string, unknown>>,
  ): Promise<void> => {
    const api = cluster.api.api;
    const def = api.registry.byResourceKey(`${kind.toLowerCase()}webhookconfigurations.admissionregistration.k8s.io`)!;
    const existing = api.store.get(def, "", name);
    if (existing !== undefined) await api.delete(def, "", name, {}, { user: { username: "test", groups: [] } });
    const body = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: `${kind}WebhookConfiguration`,
      metadata: { name },
      webhooks,
    };
    await api.create(def, "", body, { user: { username: "test", groups: [] } });
  };
  const webhook = (name: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name,
    clientConfig: { url: hook.url(path), caBundle: hook.caBundle },
    rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    objectSelector: { matchLabels: { test: name } },
    ...extra,
  });
  const reviews = (path: string): Review[] => hook.reviews.filter((r) => r.path.startsWith(path));

  before(async () => {
    cluster = await startTestCluster({
      webhookServiceResolver: (ns, name, port) =>
        (ns === "podid-system" || ns === "hooks") && name === "podid-webhook" && port === 443
          ? { host: "127.0.0.1", port: hook.port }
          : undefined,
    });
    hook = await startWebhook(ca, ["podid-webhook.podid-system.svc"]);
    core = cluster.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await hook?.stop();
    await cluster?.stop();
  });
  beforeEach(() => {
    hook.reviews.length = 0;
    hook.decide = allow;
  });

  it("sends generateName pods to mutating webhooks without name or uid, and to validating ones with both", async () => {
    await configure("Mutating", "m1", [webhook("mutate.podid.example", "/mutate")]);
    await configure("Validating", "v1", [
      webhook("validate.podid.example", "/validate", {
        objectSelector: { matchLabels: { test: "mutate.podid.example" } },
      }),
    ]);
    hook.decide = (r) =>
      r.path.startsWith("/mutate")
        ? jsonPatch([{ op: "add", path: "/metadata/annotations", value: { "podid.example/mutated": "yes" } }])
        : allow();
    const created = await core.createNamespacedPod({
      namespace: "default",
      body: pod({ generateName: "d2-" }, { test: "mutate.podid.example" }),
    });
    assert.equal(created.metadata!.annotations!["podid.example/mutated"], "yes");
    const [m] = reviews("/mutate");
    assert.equal(m!.request.name, undefined);
    assert.equal(m!.request.object!.metadata.name, undefined);
    assert.equal(m!.request.object!.metadata.generateName, "d2-");
    assert.equal(m!.request.object!.metadata.uid, undefined);
    assert.equal(m!.request.namespace, "default");
    assert.equal(m!.request.operation, "CREATE");
    assert.deepEqual(m!.request.kind, { group: "", version: "v1", kind: "Pod" });
    assert.equal(m!.request.options.kind, "CreateOptions");
    const [v] = reviews("/validate");
    assert.match(v!.request.name!, /^d2-[a-z0-9]{5}$/);
    assert.equal(v!.request.object!.metadata.name, created.metadata!.name);
    assert.equal(v!.request.object!.metadata.uid, created.metadata!.uid);
    assert.equal(v!.request.object!.metadata.annotations!["podid.example/mutated"], "yes");
  });

  it("gives a fixed-name pod's name (not uid) to mutating webhooks", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: pod({ name: "fixed" }, { test: "mutate.podid.example" }),
    });
    const [m] = reviews("/mutate");
    assert.equal(m!.request.name, "fixed");
    assert.equal(m!.request.object!.metadata.name, "fixed");
    assert.equal(m!.request.object!.metadata.uid, undefined);
  });

  it("reinvokes IfNeeded webhooks once when a later webhook changed the object", async () => {
    await configure("Mutating", "m1", [
      webhook("first.podid.example", "/first", {
        reinvocationPolicy: "IfNeeded",
        objectSelector: { matchLabels: { test: "reinvoke" } },
      }),
      webhook("second.podid.example", "/second", { objectSelector: { matchLabels: { test: "reinvoke" } } }),
    ]);
    hook.decide = (r) =>
      r.path.startsWith("/second")
        ? jsonPatch([{ op: "add", path: "/metadata/labels/second", value: "done" }])
        : allow();
    await core.createNamespacedPod({ namespace: "default", body: pod({ name: "reinvoked" }, { test: "reinvoke" }) });
    assert.deepEqual(
      hook.reviews.map((r) => r.path.split("?")[0]),
      ["/first", "/second", "/first"],
    );
    assert.equal(hook.reviews[2]!.request.object!.metadata.labels!.second, "done");
    // A webhook's own change does not make it run again.
    hook.reviews.length = 0;
    hook.decide = (r) =>
      r.path.startsWith("/first") ? jsonPatch([{ op: "add", path: "/metadata/labels/first", value: "done" }]) : allow();
    await core.createNamespacedPod({
      namespace: "default",
      body: pod({ name: "reinvoked-own" }, { test: "reinvoke" }),
    });
    assert.deepEqual(
      hook.reviews.map((r) => r.path.split("?")[0]),
      ["/first", "/second"],
    );
  });

  it("keeps pods/status updates away from webhooks registered for pods, and sends them to pods/status rules", async () => {
    await configure("Mutating", "m1", []);
    await configure("Validating", "v1", [
      webhook("pods.podid.example", "/pods", { objectSelector: { matchLabels: { test: "status" } } }),
      webhook("status.podid.example", "/status", {
        objectSelector: { matchLabels: { test: "status" } },
        rules: [{ operations: ["UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods/status"] }],
      }),
    ]);
    await core.createNamespacedPod({ namespace: "default", body: pod({ name: "status-pod" }, { test: "status" }) });
    // The simulated kubelet reports the pod Running through pods/status.
    const s = await eventually(() => reviews("/status")[0], "a pods/status review");
    assert.equal(s.request.subResource, "status");
    assert.equal(s.request.userInfo.username.startsWith("system:node:"), true);
    assert.deepEqual(
      reviews("/pods").map((r) => r.request.operation),
      ["CREATE"],
    );
  });

  it("resolves service references and verifies the certificate for <service>.<namespace>.svc", async () => {
    await configure("Validating", "v1", [
      {
        ...webhook("svc.podid.example", "/svc"),
        clientConfig: {
          service: { namespace: "podid-system", name: "podid-webhook", path: "/svc" },
          caBundle: hook.caBundle,
        },
        objectSelector: { matchLabels: { test: "svc" } },
      },
    ]);
    hook.decide = () => ({
      allowed: false,
      status: { code: 403, reason: "Forbidden", message: "through the service" },
    });
    await assert.rejects(
      core.createNamespacedPod({ namespace: "default", body: pod({ name: "via-svc" }, { test: "svc" }) }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 403);
        assert.match(
          String(err.body),
          /admission webhook \\?"svc.podid.example\\?" denied the request: through the service/,
        );
        return true;
      },
    );
    assert.equal(reviews("/svc")[0]!.path, "/svc?timeout=10s");
  });

  it("refuses Endpoints with loopback addresses, as the API server does (webhooks on loopback need the resolver)", async () => {
    const ns = "hooks";
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await assert.rejects(
      core.createNamespacedEndpoints({
        namespace: ns,
        body: {
          metadata: { name: "podid-webhook" },
          subsets: [{ addresses: [{ ip: "127.0.0.1" }], ports: [{ port: hook.port }] }],
        },
      }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 422);
        assert.match(
          String(err.body),
          /Endpoints \\"podid-webhook\\" is invalid: subsets\[0\]\.addresses\[0\]\.ip: Invalid value: \\"127\.0\.0\.1\\": may not be in the loopback range \(127\.0\.0\.0\/8, ::1\/128\)/,
        );
        return true;
      },
    );
  });

  it("calls a service by the name <service>.<namespace>.svc: a certificate for another namespace fails TLS", async () => {
    // The webhook's certificate names podid-webhook.podid-system.svc, not podid-webhook.hooks.svc.
    await configure("Validating", "v1", [
      {
        ...webhook("ep.podid.example", "/ep"),
        clientConfig: { service: { namespace: "hooks", name: "podid-webhook", path: "/ep" }, caBundle: hook.caBundle },
      },
    ]);
    await assert.rejects(
      core.createNamespacedPod({ namespace: "default", body: pod({ name: "via-ep" }, { test: "ep.podid.example" }) }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 500);
        assert.match(
          String(err.body),
          /failed calling webhook \\?"ep.podid.example\\?": failed to call webhook: Post \\?"https:\/\/podid-webhook.hooks.svc:443\/ep\?timeout=10s\\?": x509: certificate is valid for localhost, podid-webhook.podid-system.svc, not podid-webhook.hooks.svc/,
        );
        return true;
      },
    );
    assert.equal(reviews("/ep").length, 0);
  });

  it("applies namespaceSelector on the namespace's labels and the Deployment controller's pods go through pod webhooks", async () => {
    await configure("Validating", "v1", []);
    await configure("Mutating", "m1", [
      {
        ...webhook("ns.podid.example", "/ns"),
        objectSelector: {},
        namespaceSelector: { matchLabels: { podid: "enabled" } },
      },
    ]);
    await core.createNamespace({ body: { metadata: { name: "team-a", labels: { podid: "enabled" } } } });
    await core.createNamespace({ body: { metadata: { name: "team-b" } } });
    const apps = cluster.kc.makeApiClient(AppsV1Api);
    for (const ns of ["team-a", "team-b"]) {
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name: "myapp" },
          spec: {
            selector: { matchLabels: { app: "myapp" } },
            template: {
              metadata: { labels: { app: "myapp", aadpodidbinding: "myapp" } },
              spec: { containers: [{ name: "app", image: "nginx:1.27" }] },
            },
          },
        },
      });
    }
    const created = await eventually(
      () => reviews("/ns").find((r) => r.request.operation === "CREATE"),
      "the replicaset controller's pod review",
    );
    assert.equal(created.request.namespace, "team-a");
    assert.equal(created.request.name, undefined);
    assert.match(created.request.object!.metadata.generateName!, /^myapp-[a-z0-9]+-$/);
    assert.equal(created.request.userInfo.username, "system:serviceaccount:kube-system:replicaset-controller");
    await sleep(200);
    assert.deepEqual([...new Set(reviews("/ns").map((r) => r.request.namespace))], ["team-a"]);
    const pods = await eventually(async () => {
      const l = await core.listNamespacedPod({ namespace: "team-b" });
      return l.items.length === 1 && l.items[0]!.status?.phase === "Running" ? l.items : undefined;
    }, "a running pod in team-b");
    assert.match(pods[0]!.status!.podIP!, /^127\.1\d\.\d+\.\d+$/);
  });

  it("times out a slow webhook after timeoutSeconds with the real message, and Ignore lets the request through", async () => {
    await configure("Mutating", "m1", []);
    await configure("Validating", "v1", [webhook("slow.podid.example", "/slow", { timeoutSeconds: 1 })]);
    hook.decide = async () => {
      await sleep(1500);
      return allow();
    };
    await assert.rejects(
      core.createNamespacedPod({ namespace: "default", body: pod({ name: "slow" }, { test: "slow.podid.example" }) }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 500);
        assert.match(
          String(err.body),
          /failed calling webhook \\?"slow.podid.example\\?": failed to call webhook: Post \\?"https:\/\/127.0.0.1:\d+\/slow\?timeout=1s\\?": context deadline exceeded/,
        );
        return true;
      },
    );
    await configure("Validating", "v1", [
      webhook("slow.podid.example", "/slow", { timeoutSeconds: 1, failurePolicy: "Ignore" }),
    ]);
    const ok = await core.createNamespacedPod({
      namespace: "default",
      body: pod({ name: "slow" }, { test: "slow.podid.example" }),
    });
    assert.equal(ok.metadata!.name, "slow");
  });
});
