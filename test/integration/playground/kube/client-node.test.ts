// @kubernetes/client-node against the playground API server: typed API calls, conflicts,
// patches, selectors, informers (resume from a resourceVersion, re-list after 410 Gone),
// garbage collection, finalizers, namespace deletion, and service-account tokens.
import assert from "node:assert/strict";
import { request } from "node:https";
import { connect, createServer } from "node:net";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  AuthenticationV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Pod,
} from "@kubernetes/client-node";
import { eventually } from "../../../helpers/eventually.ts";
import { startTestCluster, type TestCluster } from "../../../helpers/cluster.ts";

interface Raw {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A raw HTTPS request, for what client libraries never send (no token, bad bodies). */
function raw(
  cluster: TestCluster,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Raw> {
  const u = new URL(cluster.api.url + path);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, ca: cluster.api.caPem, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const status = (err: unknown): { code: number; reason: string; message: string } => {
  const e = err as { code: number; body: unknown };
  const body =
    typeof e.body === "string"
      ? (JSON.parse(e.body) as { reason: string; message: string })
      : (e.body as { reason: string; message: string });
  return { code: e.code, reason: body.reason, message: body.message };
};

const cm = (name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}): V1ConfigMap => ({
  metadata: { name, labels },
  data,
});

describe("playground kube API with client-node", function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let core: CoreV1Api;
  const auth = { Authorization: "" };

  before(async () => {
    cluster = await startTestCluster();
    core = cluster.kc.makeApiClient(CoreV1Api);
    auth.Authorization = `Bearer ${cluster.api.token}`;
  });
  after(async () => {
    await cluster?.stop();
  });

  it("refuses anonymous requests with 401 and serves discovery", async () => {
    const anon = await raw(cluster, "GET", "/api/v1/pods");
    assert.equal(anon.status, 401);
    assert.equal(JSON.parse(anon.body).reason, "Unauthorized");
    const groups = JSON.parse((await raw(cluster, "GET", "/apis", undefined, auth)).body);
    assert.equal(groups.kind, "APIGroupList");
    const names = groups.groups.map((g: { name: string }) => g.name);
    for (const g of [
      "apps",
      "batch",
      "coordination.k8s.io",
      "apiextensions.k8s.io",
      "admissionregistration.k8s.io",
      "authentication.k8s.io",
    ])
      assert.ok(names.includes(g), g);
    const v1 = JSON.parse((await raw(cluster, "GET", "/api/v1", undefined, auth)).body);
    const pods = v1.resources.filter((r: { name: string }) => r.name.startsWith("pods"));
    assert.deepEqual(
      pods.map((r: { name: string }) => r.name),
      ["pods", "pods/status", "pods/binding"],
    );
  });

  it("answers malformed, oversize and unknown requests with the real server's codes", async () => {
    const h = { ...auth, "content-type": "application/json" };
    const bad = await raw(cluster, "POST", "/api/v1/namespaces/default/configmaps", "{not json", h);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /^couldn't get version\/kind; json parse error: /);
    const big = await raw(
      cluster,
      "POST",
      "/api/v1/namespaces/default/configmaps",
      Buffer.alloc(3 * 1024 * 1024 + 10, 0x20),
      h,
    );
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).message, "Request entity too large: limit is 3145728");
    const unknown = await raw(cluster, "GET", "/apis/nosuch.example.com/v1/things", undefined, auth);
    assert.equal(unknown.status, 404);
    const badName = await raw(
      cluster,
      "POST",
      "/api/v1/namespaces/default/configmaps",
      JSON.stringify({ metadata: { name: "Bad_Name" } }),
      h,
    );
    assert.equal(badName.status, 422);
    assert.match(
      JSON.parse(badName.body).message,
      /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    const wrongKind = await raw(
      cluster,
      "POST",
      "/api/v1/namespaces/default/configmaps",
      JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "x" } }),
      h,
    );
    assert.equal(wrongKind.status, 400);
    const noNs = await raw(
      cluster,
      "POST",
      "/api/v1/namespaces/nosuch/configmaps",
      JSON.stringify({ metadata: { name: "x" } }),
      h,
    );
    assert.equal(noNs.status, 404);
    assert.equal(JSON.parse(noNs.body).message, 'namespaces "nosuch" not found');
  });

  it("creates, conflicts on stale resourceVersions and duplicate names, and patches three ways", async () => {
    const created = await core.createNamespacedConfigMap({ namespace: "default", body: cm("c1", { a: "1" }) });
    assert.ok(created.metadata!.uid);
    await assert.rejects(core.createNamespacedConfigMap({ namespace: "default", body: cm("c1") }), (e) => {
      assert.deepEqual(status(e), { code: 409, reason: "AlreadyExists", message: 'configmaps "c1" already exists' });
      return true;
    });
    const updated = await core.replaceNamespacedConfigMap({
      name: "c1",
      namespace: "default",
      body: { ...created, data: { a: "2" } },
    });
    assert.notEqual(updated.metadata!.resourceVersion, created.metadata!.resourceVersion);
    await assert.rejects(
      core.replaceNamespacedConfigMap({ name: "c1", namespace: "default", body: { ...created, data: { a: "3" } } }),
      (e) => {
        assert.deepEqual(status(e), {
          code: 409,
          reason: "Conflict",
          message:
            'Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again',
        });
        return true;
      },
    );
    const merged = await core.patchNamespacedConfigMap(
      { name: "c1", namespace: "default", body: { data: { b: "x" } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    assert.deepEqual(merged.data, { a: "2", b: "x" });
    const jp = await core.patchNamespacedConfigMap(
      { name: "c1", namespace: "default", body: [{ op: "remove", path: "/data/a" }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    assert.deepEqual(jp.data, { b: "x" });
    // Strategic merge on a Deployment's template: containers and env merge by name.
    const apps = cluster.kc.makeApiClient(AppsV1Api);
    const containers = [
      { name: "a", image: "nginx:1", env: [{ name: "X", value: "1" }] },
      { name: "b", image: "busybox:1" },
    ];
    await apps.createNamespacedDeployment({
      namespace: "default",
      body: {
        metadata: { name: "smp" },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: "smp" } },
          template: { metadata: { labels: { app: "smp" } }, spec: { containers } },
        },
      },
    });
    const smp = await apps.patchNamespacedDeployment(
      {
        name: "smp",
        namespace: "default",
        body: {
          spec: {
            template: {
              spec: {
                "$setElementOrder/containers": [{ name: "a" }, { name: "b" }],
                containers: [{ name: "a", image: "nginx:2", env: [{ name: "Y", value: "2" }] }],
              },
            },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    const patched = smp.spec!.template.spec!.containers;
    assert.deepEqual(
      patched.map((c) => [c.name, c.image]),
      [
        ["a", "nginx:2"],
        ["b", "busybox:1"],
      ],
    );
    assert.deepEqual(
      patched[0]!.env!.map((e) => e.name),
      ["X", "Y"],
    );
    assert.equal(smp.metadata!.generation, 2);
    // A pod's spec is immutable beyond images, as on a real server.
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "imm" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    await assert.rejects(
      core.patchNamespacedPod(
        { name: "imm", namespace: "default", body: { spec: { restartPolicy: "Never" } } },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      ),
      (e) =>
        status(e).code === 422 &&
        /^Pod "imm" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`/.test(
          status(e).message,
        ),
    );
    const img = await core.patchNamespacedPod(
      { name: "imm", namespace: "default", body: { spec: { containers: [{ name: "a", image: "nginx:2" }] } } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    assert.equal(img.spec!.containers[0]!.image, "nginx:2");
  });

  it("filters lists by label and field selectors, pages with limit/continue, and schedules pods", async () => {
    for (let i = 0; i < 5; i++)
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: cm(`sel-${i}`, {}, { tier: i % 2 === 0 ? "even" : "odd" }),
      });
    const even = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "tier=even" });
    assert.deepEqual(even.items.map((c) => c.metadata!.name).sort(), ["sel-0", "sel-2", "sel-4"]);
    const notIn = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "tier,tier notin (even)" });
    assert.deepEqual(notIn.items.map((c) => c.metadata!.name).sort(), ["sel-1", "sel-3"]);
    const byName = await core.listConfigMapForAllNamespaces({ fieldSelector: "metadata.name=sel-3" });
    assert.deepEqual(
      byName.items.map((c) => c.metadata!.name),
      ["sel-3"],
    );
    const page1 = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "tier", limit: 2 });
    assert.equal(page1.items.length, 2);
    const page2 = await core.listNamespacedConfigMap({
      namespace: "default",
      labelSelector: "tier",
      limit: 2,
      _continue: page1.metadata!._continue!,
    });
    assert.deepEqual(
      [...page1.items, ...page2.items].map((c) => c.metadata!.name),
      ["sel-0", "sel-1", "sel-2", "sel-3"],
    );
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "sched" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    const running = await eventually(async () => {
      const r = await core.readNamespacedPod({ name: "sched", namespace: "default" });
      return r.status?.phase === "Running" ? r : undefined;
    }, "pod sched Running");
    const node = running.spec!.nodeName!;
    const onNode = await core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${node},status.podIP=${running.status!.podIP}`,
    });
    assert.deepEqual(
      onNode.items.map((p) => p.metadata!.name),
      ["sched"],
    );
    // The pod IP is a loopback address a process can listen on and connect from.
    const podIP = running.status?.podIP ?? "";
    const server = createServer((sock) => sock.end(sock.remoteAddress ?? ""));
    await new Promise<void>((r) => server.listen(0, podIP, r));
    const port = (server.address() as { port: number }).port;
    const seenFrom = await new Promise<string>((resolve, reject) => {
      const sock = connect(
        { host: running.status!.podIP!, port, localAddress: running.status!.podIP! },
        () => undefined,
      );
      let got = "";
      sock.on("data", (d: Buffer) => (got += d.toString()));
      sock.on("end", () => resolve(got));
      sock.on("error", reject);
    });
    server.close();
    assert.equal(seenFrom, running.status!.podIP);
    // hostNetwork pods share their node's InternalIP.
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "hostnet" },
        spec: { hostNetwork: true, containers: [{ name: "a", image: "nginx:1" }] },
      },
    });
    const hn = await eventually(async () => {
      const r = await core.readNamespacedPod({ name: "hostnet", namespace: "default" });
      return r.status?.phase === "Running" ? r : undefined;
    }, "pod hostnet Running");
    const hostNode = await core.readNode({ name: hn.spec!.nodeName! });
    assert.equal(hn.status!.podIP, hostNode.status!.addresses!.find((x) => x.type === "InternalIP")!.address);
    assert.equal(hn.status!.podIP, cluster.api.nodeIps.get(hn.spec!.nodeName!));
    await assert.rejects(core.listPodForAllNamespaces({ fieldSelector: "spec.nosuch=x" }), (e) => {
      assert.deepEqual(status(e), {
        code: 400,
        reason: "BadRequest",
        message: "field label not supported: spec.nosuch",
      });
      return true;
    });
  });

  it("feeds informers, resumes a watch from a resourceVersion, and makes them re-list after 410 Gone", async () => {
    const path = "/api/v1/namespaces/default/configmaps";
    const seen = new Map<string, string>();
    const deleted: string[] = [];
    let lists = 0;
    const listFn = (): ReturnType<CoreV1Api["listNamespacedConfigMap"]> => {
      lists++;
      return core.listNamespacedConfigMap({ namespace: "default", labelSelector: "inf=yes" });
    };
    const lw = new ListWatch<KubernetesObject>(path, new Watch(cluster.kc), listFn, false, "inf=yes");
    lw.on("add", (o) => seen.set(o.metadata!.name!, o.metadata!.resourceVersion!));
    lw.on("update", (o) => seen.set(o.metadata!.name!, o.metadata!.resourceVersion!));
    lw.on("delete", (o) => deleted.push(o.metadata!.name!));
    await core.createNamespacedConfigMap({ namespace: "default", body: cm("inf-0", {}, { inf: "yes" }) });
    await lw.start();
    try {
      await eventually(() => (seen.has("inf-0") ? true : undefined), "inf-0 listed");
      await core.createNamespacedConfigMap({ namespace: "default", body: cm("inf-1", {}, { inf: "yes" }) });
      await eventually(() => (seen.has("inf-1") ? true : undefined), "inf-1 watched");
      // Relabelling out of the selector is a DELETED event for this watch.
      await core.patchNamespacedConfigMap(
        { name: "inf-1", namespace: "default", body: { metadata: { labels: { inf: "no" } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await eventually(() => (deleted.includes("inf-1") ? true : undefined), "inf-1 leaving the selector");

      // A raw watch from an old resourceVersion replays what happened since, in order.
      const from = Number(seen.get("inf-0"));
      const replay: string[] = [];
      const ctrl = await new Watch(cluster.kc).watch(
        path,
        { resourceVersion: String(from) },
        (type, obj: KubernetesObject) => replay.push(`${type} ${obj.metadata!.name}`),
        () => undefined,
      );
      await eventually(() => (replay.length >= 2 ? true : undefined), "replayed events");
      ctrl.abort();
      assert.deepEqual(replay.slice(0, 2), ["ADDED inf-1", "MODIFIED inf-1"]);

      // History dropped while the informer is away: its next watch gets 410 and it re-lists.
      const def = cluster.api.api.registry.byResourceKey("configmaps")!;
      await core.deleteNamespacedConfigMap({ name: "inf-0", namespace: "default" });
      await eventually(() => (deleted.includes("inf-0") ? true : undefined), "inf-0 deleted");
      cluster.api.api.store.compact(def);
      const gone: number[] = [];
      await new Promise<void>((done) => {
        void new Watch(cluster.kc).watch(
          path,
          { resourceVersion: String(from) },
          (type, obj: { code?: number }) => {
            if (type === "ERROR") gone.push(obj.code ?? 0);
          },
          () => done(),
        );
      });
      assert.deepEqual(gone, [410]);
      // The informer's own watch ends (as on an apiserver restart): it resumes, gets 410, re-lists.
      const before = lists;
      await core.createNamespacedConfigMap({ namespace: "default", body: cm("unwatched") }); // moves history past the informer's version
      cluster.api.api.store.compact(def);
      cluster.api.api.store.closeWatches(def);
      await eventually(() => (lists > before ? true : undefined), "the informer re-listing after 410");
      await core.createNamespacedConfigMap({ namespace: "default", body: cm("inf-2", {}, { inf: "yes" }) });
      await eventually(() => (seen.has("inf-2") ? true : undefined), "inf-2 watched after the re-list");
    } finally {
      await lw.stop();
    }
  });

  it("terminates scheduled pods gracefully: deletionTimestamp first, then the kubelet removes them", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "graceful" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    await eventually(
      async () =>
        (await core.readNamespacedPod({ name: "graceful", namespace: "default" })).spec?.nodeName !== undefined
          ? true
          : undefined,
      "pod graceful scheduled",
    );
    const marked = await core.deleteNamespacedPod({ name: "graceful", namespace: "default" });
    assert.ok(marked.metadata!.deletionTimestamp);
    assert.equal(marked.metadata!.deletionGracePeriodSeconds, 30);
    await eventually(
      async () =>
        (await core.listNamespacedPod({ namespace: "default", fieldSelector: "metadata.name=graceful" })).items
          .length === 0
          ? true
          : undefined,
      "pod graceful removed",
    );
  });

  it("garbage-collects dependents of a deleted owner and respects finalizers", async () => {
    const owner = await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "owner" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    const ref = { apiVersion: "v1", kind: "Pod", name: "owner", uid: owner.metadata!.uid!, controller: true };
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "owned", ownerReferences: [ref] } },
    });
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "owned-held", ownerReferences: [ref], finalizers: ["podid.example/hold"] } },
    });
    await core.deleteNamespacedPod({ name: "owner", namespace: "default" });
    await eventually(
      async () =>
        (await core.listNamespacedConfigMap({ namespace: "default", fieldSelector: "metadata.name=owned" })).items
          .length === 0
          ? true
          : undefined,
      "owned collected",
    );
    const held = await eventually(async () => {
      const c = await core.readNamespacedConfigMap({ name: "owned-held", namespace: "default" });
      return c.metadata!.deletionTimestamp !== undefined ? c : undefined;
    }, "owned-held marked for deletion");
    assert.deepEqual(held.metadata!.finalizers, ["podid.example/hold"]);
    await core.patchNamespacedConfigMap(
      { name: "owned-held", namespace: "default", body: { metadata: { finalizers: null } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await assert.rejects(
      core.readNamespacedConfigMap({ name: "owned-held", namespace: "default" }),
      (e) => status(e).code === 404,
    );
    // An object whose owner is already gone is collected too.
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: {
        metadata: { name: "orphan", ownerReferences: [{ ...ref, uid: "00000000-0000-0000-0000-000000000000" }] },
      },
    });
    await eventually(
      async () =>
        (await core.listNamespacedConfigMap({ namespace: "default", fieldSelector: "metadata.name=orphan" })).items
          .length === 0
          ? true
          : undefined,
      "orphan collected",
    );
  });

  it("removes everything in a deleted namespace, then the namespace, and gives new namespaces kube-root-ca.crt", async () => {
    await core.createNamespace({ body: { metadata: { name: "doomed" } } });
    const ca = await eventually(
      async () =>
        (await core.listNamespacedConfigMap({ namespace: "doomed" })).items.find(
          (c) => c.metadata!.name === "kube-root-ca.crt",
        ),
      "kube-root-ca.crt",
    );
    assert.equal(ca.data!["ca.crt"], cluster.api.caPem);
    await core.createNamespacedPod({
      namespace: "doomed",
      body: { metadata: { name: "p" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    const ns = await core.deleteNamespace({ name: "doomed" });
    assert.equal((ns as { status?: { phase?: string } }).status?.phase, "Terminating");
    await eventually(async () => {
      try {
        await core.readNamespace({ name: "doomed" });
        return undefined;
      } catch (e) {
        return status(e).code === 404 ? true : undefined;
      }
    }, "namespace gone");
    assert.equal(cluster.api.api.store.resourcesIn("doomed").length, 0);
    await assert.rejects(core.deleteNamespace({ name: "default" }), (e) => {
      assert.deepEqual(status(e), {
        code: 403,
        reason: "Forbidden",
        message: 'namespaces "default" is forbidden: this namespace may not be deleted',
      });
      return true;
    });
  });

  it("mints audience- and pod-bound service-account tokens and reviews them", async () => {
    const p: V1Pod = await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "tok" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "default",
      namespace: "default",
      body: {
        spec: {
          audiences: ["podid-nmi"],
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "tok", uid: p.metadata!.uid },
        },
      },
    });
    const token = tr.status!.token!;
    const authn = cluster.kc.makeApiClient(AuthenticationV1Api);
    const ok = await authn.createTokenReview({ body: { spec: { token, audiences: ["podid-nmi"] } } });
    assert.equal(ok.status!.authenticated, true);
    assert.equal(ok.status!.user!.username, "system:serviceaccount:default:default");
    assert.deepEqual(ok.status!.user!.extra!["authentication.kubernetes.io/pod-name"], ["tok"]);
    assert.deepEqual(ok.status!.user!.extra!["authentication.kubernetes.io/pod-uid"], [p.metadata!.uid]);
    assert.deepEqual(ok.status!.audiences, ["podid-nmi"]);
    const other = await authn.createTokenReview({ body: { spec: { token, audiences: ["someone-else"] } } });
    assert.equal(other.status!.authenticated, undefined);
    assert.match(
      other.status!.error!,
      /token audiences \["podid-nmi"\] is invalid for the target audiences \["someone-else"\]/,
    );
    // Same name, new pod: the token no longer authenticates.
    await core.deleteNamespacedPod({ name: "tok", namespace: "default" });
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "tok" }, spec: { containers: [{ name: "a", image: "nginx:1" }] } },
    });
    const stale = await authn.createTokenReview({ body: { spec: { token, audiences: ["podid-nmi"] } } });
    assert.notEqual(stale.status!.authenticated, true);
    await assert.rejects(
      core.createNamespacedServiceAccountToken({
        name: "default",
        namespace: "default",
        body: { spec: { audiences: ["x"], expirationSeconds: 60 } },
      }),
      (e) => status(e).code === 422,
    );
    // A token for the API audience authenticates API calls as its service account.
    const api = await core.createNamespacedServiceAccountToken({
      name: "default",
      namespace: "default",
      body: { spec: {} },
    });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: cluster.api.url, caData: Buffer.from(cluster.api.caPem).toString("base64") }],
      users: [{ name: "sa", token: api.status!.token }],
      contexts: [{ name: "c", cluster: "c", user: "sa" }],
      currentContext: "c",
    });
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: "default" });
    assert.ok(list.items.length > 0);
  });

  it("serves cluster-scoped custom resources with schema defaults, enums and the status subresource", async () => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "gadgets.example.com" },
      spec: {
        group: "example.com",
        scope: "Cluster",
        names: { kind: "Gadget", plural: "gadgets" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: {
                    type: "object",
                    properties: { size: { type: "string", default: "medium", enum: ["small", "medium", "large"] } },
                  },
                  status: { type: "object", properties: { ready: { type: "boolean" } } },
                },
              },
            },
          },
        ],
      },
    };
    await raw(cluster, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", JSON.stringify(crd), {
      ...auth,
      "content-type": "application/json",
    });
    const co = cluster.kc.makeApiClient(CustomObjectsApi);
    const g = (await co.createClusterCustomObject({
      group: "example.com",
      version: "v1",
      plural: "gadgets",
      body: {
        apiVersion: "example.com/v1",
        kind: "Gadget",
        metadata: { name: "g1" },
        spec: {},
        status: { ready: true },
      },
    })) as { spec: { size: string }; status?: unknown; metadata: { generation: number } };
    assert.equal(g.spec.size, "medium");
    assert.equal(g.status, undefined);
    assert.equal(g.metadata.generation, 1);
    await assert.rejects(
      co.createClusterCustomObject({
        group: "example.com",
        version: "v1",
        plural: "gadgets",
        body: { apiVersion: "example.com/v1", kind: "Gadget", metadata: { name: "g2" }, spec: { size: "huge" } },
      }),
      (e) => status(e).code === 422,
    );
    const s = (await co.patchClusterCustomObjectStatus(
      {
        group: "example.com",
        version: "v1",
        plural: "gadgets",
        name: "g1",
        body: { status: { ready: true }, spec: { size: "large" } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )) as { spec: { size: string }; status: { ready: boolean }; metadata: { generation: number } };
    assert.deepEqual([s.spec.size, s.status.ready, s.metadata.generation], ["medium", true, 1]);
  });
});
