// Webhook benchmark (part of `npm run bench`): pod CREATE reviews (a realistic ReplicaSet pod of
// 2.7 KB, a 3.4 KB review) to /mutate/pods over HTTPS keep-alive, against `podid webhook` (the
// compiled CLI, as the image runs it: informer caches, handlers, HMAC mark, JSON patch) with
// 1,000 bindings and identities in its cache (listed from the playground's API server, which
// this process runs), and against a bare Node HTTPS server that parses the review and answers
// "allowed" (the floor of any webhook in Node). Maximum requests/s (closed loop, autocannon)
// and p50/p99 at an evenly spaced 1,000 requests/s measured from each request's scheduled send
// time, in interleaved rounds (lib.ts compareServers). Servers run in child processes, so
// client and server never share an event loop.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { childFlags, compareServers, pacedLatency, startRole, type Contender } from "./lib.ts";

const ROLE_ENV = "PODID_WEBHOOK_BENCH_ROLE";
export const MUTATE = "/mutate/pods";
const SERVER_NAME = "podid-webhook.podid-system.svc";
const BINDINGS = 1000;

/** A pod as a ReplicaSet controller creates it (generateName, owner, probes, env, volumes). */
export function benchReview(): Record<string, unknown> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "orders-api-7d9c5b8f6-",
      namespace: "team-500",
      labels: {
        app: "orders-api",
        "app.kubernetes.io/name": "orders-api",
        "app.kubernetes.io/version": "2.14.3",
        "pod-template-hash": "7d9c5b8f6",
        aadpodidbinding: "selector-500",
      },
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": "9090" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "orders-api-7d9c5b8f6",
          uid: "6f1d0a3e-9b8c-4d7e-a6f5-0e1d2c3b4a59",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      serviceAccountName: "orders-api",
      terminationGracePeriodSeconds: 30,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        fsGroup: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "orders-api",
          image: "myregistry.azurecr.io/orders/orders-api:2.14.3",
          args: ["--config=/etc/orders/config.yaml", "--listen=:8080"],
          ports: [
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "metrics", containerPort: 9090, protocol: "TCP" },
          ],
          env: [
            { name: "ASPNETCORE_ENVIRONMENT", value: "Production" },
            { name: "STORAGE_ACCOUNT", value: "ordersprodstorage" },
            { name: "SERVICEBUS_NAMESPACE", value: "orders-prod-bus.servicebus.windows.net" },
            { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
          ],
          resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
          readinessProbe: {
            httpGet: { path: "/healthz/ready", port: "http", scheme: "HTTP" },
            periodSeconds: 5,
            timeoutSeconds: 2,
            failureThreshold: 3,
          },
          livenessProbe: {
            httpGet: { path: "/healthz/live", port: "http", scheme: "HTTP" },
            periodSeconds: 10,
            timeoutSeconds: 2,
            failureThreshold: 3,
          },
          volumeMounts: [
            { name: "config", mountPath: "/etc/orders", readOnly: true },
            {
              name: "kube-api-access-x7k2p",
              mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
              readOnly: true,
            },
          ],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: "IfNotPresent",
        },
      ],
      volumes: [
        { name: "config", configMap: { name: "orders-api-config", defaultMode: 420 } },
        {
          name: "kube-api-access-x7k2p",
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
              { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
              {
                downwardAPI: {
                  items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
                },
              },
            ],
          },
        },
      ],
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
      schedulerName: "default-scheduler",
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
  };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: "team-500",
      operation: "CREATE",
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        uid: "a1b2c3d4-0000-4000-8000-000000000001",
        groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
      },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  };
}

/** This checkout. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Compiles podid's src/ (of `srcRoot`, this checkout by default) with tsc into `out`, a folder
 * under node_modules/.cache so that the build's imports resolve to this checkout's packages.
 * Returns the CLI's path.
 */
export function buildCli(out = join(ROOT, "node_modules", ".cache", "podid-bench", "dist"), srcRoot = ROOT): string {
  const build = spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules", "typescript", "bin", "tsc"),
      "-p",
      join(srcRoot, "tsconfig.build.json"),
      "--outDir",
      out,
    ],
    { encoding: "utf8" },
  );
  if (build.status !== 0) throw new Error(`bench: building podid failed:\n${build.stdout}${build.stderr}`);
  return join(out, "cli.js");
}

/**
 * `podid webhook` as the container image runs it: the compiled CLI (buildCli), with its real
 * flags, informer caches listed from the API server this process runs, HTTPS, handlers, HMAC
 * mark and JSON patch.
 */
export async function startWebhook(
  dir: string,
  ca: string,
  cli = buildCli(),
  nodeFlags = childFlags,
): Promise<{ url: string; child: ChildProcess }> {
  const { freePort } = await import("../src/playground/free-port.ts");
  const port = await freePort();
  const args = [
    "webhook",
    "--kubeconfig",
    join(dir, "kubeconfig"),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--tls-cert-file",
    join(dir, "tls.crt"),
    "--tls-key-file",
    join(dir, "tls.key"),
    "--admission-key-file",
    join(dir, "keys"),
  ];
  const child = spawn(process.execPath, [...nodeFlags, cli, ...args], {
    env: { ...process.env, PODID_LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const url = `https://127.0.0.1:${port}`;
  const pool = new Pool(url, { connect: { ca, servername: SERVER_NAME } });
  try {
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`bench: podid webhook exited (${child.exitCode})`);
      const ready = await pool.request({ path: "/readyz", method: "GET" }).then(
        async (r) => (await r.body.text(), r.statusCode === 200),
        () => false,
      );
      if (ready) return { url, child };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("bench: podid webhook not ready after 30 s");
  } finally {
    await pool.close();
  }
}

/** The playground's API server with podid's CRDs and 1,000 namespaces, each with one identity and one binding. */
export async function startCluster(dir: string): Promise<{ stop(): Promise<void> }> {
  const { readFileSync, readdirSync } = await import("node:fs");
  const { parse } = await import("yaml");
  const { KubeConfig } = await import("@kubernetes/client-node");
  const { startKubeApi } = await import("../src/playground/kube/index.ts");
  const { kubeRequest } = await import("../src/kube/request.ts");
  const { silentLogger } = await import("../src/shared/log.ts");
  const api = await startKubeApi({ simulateKubelet: false, logger: silentLogger() });
  writeFileSync(join(dir, "kubeconfig"), api.kubeconfigYaml(), { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  const crdDir = fileURLToPath(new URL("../config/crd/", import.meta.url));
  for (const f of readdirSync(crdDir).filter((x) => x.endsWith(".yaml") && x !== "kustomization.yaml"))
    await kubeRequest(kc, {
      method: "POST",
      path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
      body: parse(readFileSync(join(crdDir, f), "utf8")) as unknown,
    });
  const g = "/apis/aadpodidentity.k8s.io/v1";
  for (let i = 0; i < 100; i++) {
    try {
      await kubeRequest(kc, { path: `${g}/azureidentitybindings` });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const objects = (i: number): Array<[string, unknown]> => {
    const ns = `team-${i}`;
    const hex = i.toString(16).padStart(12, "0");
    return [
      [
        "/api/v1/namespaces",
        { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { team: String(i) } } },
      ],
      [
        `${g}/namespaces/${ns}/azureidentities`,
        {
          apiVersion: "aadpodidentity.k8s.io/v1",
          kind: "AzureIdentity",
          metadata: { name: `identity-${i}`, namespace: ns },
          spec: {
            type: 0,
            ResourceID: `/subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourcegroups/rg-${i}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity-${i}`,
            ClientID: `5c7a9e1b-2d3f-4a6b-8c9d-${hex}`,
          },
        },
      ],
      [
        `${g}/namespaces/${ns}/azureidentitybindings`,
        {
          apiVersion: "aadpodidentity.k8s.io/v1",
          kind: "AzureIdentityBinding",
          metadata: { name: `binding-${i}`, namespace: ns },
          spec: { AzureIdentity: `identity-${i}`, Selector: `selector-${i}` },
        },
      ],
    ];
  };
  const batch = 25;
  for (let start = 0; start < BINDINGS; start += batch)
    await Promise.all(
      Array.from({ length: Math.min(batch, BINDINGS - start) }, async (_, j) => {
        for (const [path, body] of objects(start + j)) await kubeRequest(kc, { method: "POST", path, body });
      }),
    );
  return { stop: () => api.stop() };
}

async function serveBare(dir: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const server = https.createServer(
    { cert: readFileSync(join(dir, "tls.crt")), key: readFileSync(join(dir, "tls.key")) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const review = JSON.parse(Buffer.concat(chunks).toString()) as { request: { uid: string } };
        res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: { uid: review.request.uid, allowed: true },
          }),
        );
      });
    },
  );
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.stdout.write(`READY https://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
}

const startChild = (role: string, dir: string): Promise<{ url: string; child: ChildProcess }> =>
  startRole(fileURLToPath(import.meta.url), ROLE_ENV, role, [dir]);

/** A server as the comparison drives it: closed loop with autocannon, paced through undici. */
function contender(server: { url: string; child: ChildProcess }, ca: string, body: string): Contender {
  const headers = { "content-type": "application/json" };
  return {
    pid: server.child.pid!,
    closedLoop: { url: server.url + MUTATE, method: "POST", headers, body },
    paced: (rate, seconds) =>
      pacedLatency({
        origin: server.url,
        connect: { ca, servername: SERVER_NAME },
        request: { path: MUTATE, method: "POST", headers, body },
        rate,
        seconds,
      }),
  };
}

/** A folder with what `podid webhook` is started with (serving certificate and key, admission key); returns it and the CA's PEM. */
export async function webhookFiles(): Promise<{ dir: string; ca: string }> {
  const { createCertificateAuthority } = await import("../src/shared/pki.ts");
  const dir = mkdtempSync(join(tmpdir(), "podid-webhook-bench-"));
  const ca = createCertificateAuthority("podid webhook bench CA");
  const leaf = ca.issue({ commonName: SERVER_NAME, dnsNames: [SERVER_NAME], ipAddresses: ["127.0.0.1"] });
  writeFileSync(join(dir, "tls.crt"), leaf.certPem);
  writeFileSync(join(dir, "tls.key"), leaf.keyPem);
  writeFileSync(join(dir, "keys"), "bench-admission-key-0123456789abcdef0123\n");
  return { dir, ca: ca.certPem };
}

export async function runWebhookBench(): Promise<Record<string, number>> {
  const { dir, ca } = await webhookFiles();
  const body = JSON.stringify(benchReview());
  const cluster = await startCluster(dir);
  const hook = await startWebhook(dir, ca);
  const bare = await startChild("bare", dir);
  try {
    // The answer must be a patch (the mark was written), or the benchmark measures nothing.
    const probePool = new Pool(hook.url, { connect: { ca, servername: SERVER_NAME } });
    const probe = await probePool.request({
      path: MUTATE,
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const answer = (await probe.body.json()) as { response?: { patch?: string } };
    await probePool.close();
    if (answer.response?.patch === undefined)
      throw new Error(`bench: the webhook did not patch the pod: ${JSON.stringify(answer)}`);
    const figures = await compareServers(contender(hook, ca, body), contender(bare, ca, body));
    const results = { ...figures, review_bytes: Buffer.byteLength(body), bindings: BINDINGS };
    console.log(
      `webhook: ${results.rps} req/s (bare ${results.bare_rps}, ratio ${results.ratio_to_bare}); at 1000 req/s p50 ${results.p50_ms} ms, p99 ${results.p99_ms} ms (bare p99 ${results.bare_p99_ms} ms); ${results.review_bytes}-byte reviews, ${BINDINGS} bindings`,
    );
    return results;
  } finally {
    hook.child.kill();
    bare.child.kill();
    await cluster.stop();
  }
}

const role = process.env[ROLE_ENV];
const dirArg = process.argv[2];
if (role === "bare" && dirArg !== undefined) await serveBare(dirArg);
else if (process.argv[1] === fileURLToPath(import.meta.url)) await runWebhookBench();
