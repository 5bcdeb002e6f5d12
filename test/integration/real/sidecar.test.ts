// Sidecar mode on a real API server: the webhook injects the NMI sidecar and its projected,
// audience-bound token volume (validated by the real API server); the "kubelet" projects the
// token as a kubelet does (TokenRequest bound to the pod); the unmodified Azure SDK in the pod
// asks the sidecar on the pod's loopback, the sidecar presents the token to the node's NMI, and
// the NMI (as config/'s podid-nmi ServiceAccount) checks it with a real TokenReview. Tokens for
// another audience, of another pod or of a deleted pod are refused, and so is the pod's address
// alone; an NMI whose role lacks `create tokenreviews` serves nothing.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kubeRequest } from "../../../src/kube/request.ts";
import {
  DEFAULTS,
  NMI_MODE_ANNOTATION,
  SIDECAR,
  SIDECAR_PORT,
  SYSTEM_NAMESPACE,
} from "../../../src/model/constants.ts";
import { containerEnv } from "../../../src/playground/kubelet-env.ts";
import { runInPod } from "../../../src/playground/pod-process.ts";
import { POD_LOOPBACK_PORTS_ENV } from "../../../src/playground/podnet/bind.ts";
import { spawnPodid, type ProgramHandle } from "../../../src/playground/processes.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import {
  NODES,
  assignment,
  fromPod,
  identityAndBinding,
  labelledPod,
  runningPod,
  sharedPodid,
  slowly,
  tokenPath,
  type PodView,
  type PodidCluster,
  type RunningProgram,
  admittedPod,
} from "../../helpers/podid-real.ts";

const GET_TOKEN = fileURLToPath(new URL("./fixtures/get-token.ts", import.meta.url));
const STORAGE = "https://storage.azure.com/";
const node = NODES[2]!;

/** A token for the pod's ServiceAccount, as the kubelet projects it (bound to the pod, for `audience`). */
async function projectedToken(
  p: PodidCluster,
  pod: PodView,
  audience: string = DEFAULTS.sidecarTokenAudience,
): Promise<string> {
  const res = await kubeRequest<{ status: { token: string } }>(p.cp.kc, {
    method: "POST",
    path: `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${pod.spec.serviceAccountName}/token`,
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: [audience],
        expirationSeconds: SIDECAR.tokenExpirationSeconds,
        boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.metadata.name, uid: pod.metadata.uid },
      },
    },
  });
  return res.status.token;
}

describe("real cluster: sidecar mode, the node NMI checking pod tokens with TokenReview", function () {
  this.timeout(150_000);
  let p: PodidCluster;
  let azure: AzureFixture;
  let ns: string;
  let reconciler: RunningProgram;
  let nmi: RunningProgram;
  let pod: PodView;
  let sidecar: ProgramHandle;
  let tokenFile: string;

  before(async () => {
    ({ p } = await sharedPodid());
    azure = await startTestAzure();
    ns = await p.namespace("sidecar");
    const r = await p.kubectl(
      ["apply", "-n", ns, "-f", "-"],
      identityAndBinding(azure, "demo-reader", "sc", "sidecar"),
    );
    assert.equal(r.code, 0, r.stderr);
    reconciler = await p.startReconciler(azure);
    // On the node's own port: the sidecar finds it through the env the webhook injected.
    nmi = await p.startNmi(node.name, azure, { port: DEFAULTS.nmiPort });
    pod = await admittedPod(p, ns, "app", "sc", node.name);
    await assignment(p, pod);
    tokenFile = join(p.dir, "sidecar-token");
    writeFileSync(tokenFile, await projectedToken(p, pod), { mode: 0o600 });
    // The injected container, run as the kubelet would: its env, with the pod's IP as its 127.0.0.1.
    const c = pod.spec.containers.find((x) => x.name === SIDECAR.containerName) as { args: string[] } | undefined;
    assert.ok(c, "the webhook injected the sidecar");
    const args = c.args.map((a) => (a === "--host=127.0.0.1" ? `--host=${pod.status.podIP!}` : a));
    sidecar = spawnPodid({
      name: "sidecar",
      logDir: p.logDir,
      args: [...args, `--token-file=${tokenFile}`],
      env: containerEnv(pod as unknown as Record<string, unknown>, SIDECAR.containerName),
    });
    await slowly(
      async () =>
        (await fetch(`http://${pod.status.podIP!}:${SIDECAR_PORT}/healthz`).then(
          (x) => x.ok,
          () => false,
        )) || undefined,
      "the sidecar to listen",
    );
  });
  after(async () => {
    await sidecar?.stop();
    await nmi?.stop();
    await reconciler?.stop();
    await azure?.pg.stop();
  });

  it("injects the sidecar and its projected token volume, which the real API server accepted", () => {
    assert.equal(pod.metadata.annotations?.[NMI_MODE_ANNOTATION], "sidecar");
    const volumes = (pod.spec as unknown as { volumes: Array<{ name: string; projected?: unknown }> }).volumes;
    const v = volumes.find((x) => x.name === SIDECAR.tokenVolumeName);
    assert.deepEqual(v?.projected, {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { audience: DEFAULTS.sidecarTokenAudience, expirationSeconds: 3600, path: "token" } },
      ],
    });
  });

  it("serves the unmodified ManagedIdentityCredential in the pod, through the sidecar and a TokenReview", async () => {
    const r = await runInPod(pod as unknown as Record<string, unknown>, {
      container: "app",
      script: GET_TOKEN,
      caFile: join(p.dir, "azure-ca.pem"),
      env: { [POD_LOOPBACK_PORTS_ENV]: String(SIDECAR_PORT) },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match((JSON.parse(r.stdout) as { token: string }).token, /^ey/);
  });

  it("refuses the pod's address alone: a sidecar-mode pod is known by its token only", async () => {
    const r = await fromPod(pod.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`);
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /sidecar mode/);
  });

  const attacks: Array<[string, (p: PodidCluster) => Promise<string>, RegExp]> = [
    [
      "a token for the API server's audience",
      (p) => projectedToken(p, pod, p.cp.issuer),
      /audience|not authenticated|token/i,
    ],
    ["a garbage token", () => Promise.resolve("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), /token|authenticated/i],
  ];
  for (const [what, token, reason] of attacks) {
    it(`refuses ${what}`, async () => {
      const r = await fromPod(pod.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`, {
        [SIDECAR.tokenHeader]: await token(p),
      });
      assert.ok(r.status === 401 || r.status === 403, `${r.status} ${r.body}`);
      assert.match(r.body, reason);
    });
  }

  it("refuses a valid token of another pod of the namespace, which podid did not admit", async () => {
    const c = await p.kubectl([
      "run",
      "other",
      "-n",
      ns,
      "--image=x",
      `--overrides={"spec":{"nodeName":"${node.name}"}}`,
    ]);
    assert.equal(c.code, 0, c.stderr);
    const other = await runningPod(p, ns, "other");
    const r = await fromPod(other.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`, {
      [SIDECAR.tokenHeader]: await projectedToken(p, other),
    });
    assert.equal(r.status, 403, r.body);
  });

  it("refuses the token of a deleted pod (the TokenReview no longer authenticates it)", async () => {
    const c = await p.kubectl(["create", "-n", ns, "-f", "-"], labelledPod("gone", "sc", node.name));
    assert.equal(c.code, 0, c.stderr);
    const gone = await runningPod(p, ns, "gone");
    const token = await projectedToken(p, gone);
    assert.equal((await p.kubectl(["delete", "pod", "-n", ns, "gone", "--wait=true", "--timeout=30s"])).code, 0);
    const r = await fromPod(gone.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`, { [SIDECAR.tokenHeader]: token });
    assert.ok(r.status === 401 || r.status === 403, `${r.status} ${r.body}`);
  });

  it("an NMI whose role lacks `create tokenreviews` serves no sidecar", async () => {
    const name = "podid-nmi-no-review";
    await kubeRequest(p.cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/serviceaccounts`,
      body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } },
    });
    // config/'s ClusterRole for the NMI, less its TokenReview rule.
    const role = await kubeRequest<{ rules: Array<{ resources: string[] }> }>(p.cp.kc, {
      path: "/apis/rbac.authorization.k8s.io/v1/clusterroles/podid-nmi",
    });
    const rules = role.rules.filter((r) => !r.resources.includes("tokenreviews"));
    assert.equal(rules.length, role.rules.length - 1);
    for (const [kind, body] of [
      ["clusterroles", { metadata: { name }, rules }],
      [
        "clusterrolebindings",
        {
          metadata: { name },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
          subjects: [{ kind: "ServiceAccount", name, namespace: SYSTEM_NAMESPACE }],
        },
      ],
    ] as const)
      await kubeRequest(p.cp.kc, { method: "POST", path: `/apis/rbac.authorization.k8s.io/v1/${kind}`, body });
    const weak = await p.startNmi(node.name, azure, {
      name: "nmi-no-review",
      kubeconfig: (await p.account(name)).path,
    });
    try {
      const r = await fromPod(pod.status.podIP!, `${weak.url}${tokenPath(STORAGE)}`, {
        [SIDECAR.tokenHeader]: await projectedToken(p, pod),
      });
      assert.ok(r.status >= 400, `${r.status} ${r.body}`);
      // The same request to config/'s NMI on the same node is served: only the permission differs.
      const ok = await fromPod(pod.status.podIP!, `${nmi.url}${tokenPath(STORAGE)}`, {
        [SIDECAR.tokenHeader]: await projectedToken(p, pod),
      });
      assert.equal(ok.status, 200, ok.body);
      assert.match(readFileSync(weak.logFile, "utf8"), /tokenreviews/);
    } finally {
      await weak.stop();
    }
  });
});
