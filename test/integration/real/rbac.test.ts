// Least privilege, shown on a real API server's RBAC: each program works under config/'s
// ServiceAccount (the other real-cluster tests run them so), cannot do what it has no business
// doing, and stops working when one permission of its role is taken away (a copy of config/'s
// roles and bindings for a ServiceAccount of its own, with that one rule changed). The
// self-signed bootstrap works with config/webhook/self-signed's extra RBAC and fails without it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:tls";
import { join } from "node:path";
import { kubeRequest } from "../../../src/kube/request.ts";
import { SYSTEM_NAMESPACE, WEBHOOK } from "../../../src/model/constants.ts";
import { freePort } from "../../../src/playground/free-port.ts";
import { renderKustomization } from "../../../src/playground/install.ts";
import { spawnPodid } from "../../../src/playground/processes.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import {
  ACCOUNTS,
  NODES,
  ROOT,
  identityAndBinding,
  sharedPodid,
  slowly,
  type PodidCluster,
  type RunningProgram,
  admittedPod,
} from "../../helpers/podid-real.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Role {
  metadata: { name: string; namespace?: string };
  rules: Rule[];
}
interface Binding {
  metadata: { name: string; namespace?: string };
  roleRef: { kind: "Role" | "ClusterRole"; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const path = (kind: "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings", ns?: string): string =>
  ns !== undefined ? `${RBAC}/namespaces/${ns}/${kind}` : `${RBAC}/${kind}`;

/**
 * A ServiceAccount `clone` with the roles config/ binds to `original`, copied with `edit` applied
 * to each rule (return undefined to drop it). Returns its kubeconfig file.
 */
async function cloneAccount(
  p: PodidCluster,
  original: string,
  clone: string,
  edit: (rule: Rule) => Rule | undefined,
): Promise<string> {
  const kc = p.cp.kc;
  await kubeRequest(kc, {
    method: "POST",
    path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/serviceaccounts`,
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: clone } },
  });
  const subject = { kind: "ServiceAccount", name: clone, namespace: SYSTEM_NAMESPACE };
  const bindsOriginal = (b: Binding): boolean =>
    (b.subjects ?? []).some(
      (s) => s.kind === "ServiceAccount" && s.name === original && s.namespace === SYSTEM_NAMESPACE,
    );
  for (const ns of [undefined, SYSTEM_NAMESPACE]) {
    const bindingKind = ns === undefined ? "clusterrolebindings" : "rolebindings";
    const bindings = await kubeRequest<{ items: Binding[] }>(kc, { path: path(bindingKind, ns) });
    for (const b of bindings.items.filter(bindsOriginal)) {
      const roleKind = b.roleRef.kind === "ClusterRole" ? "clusterroles" : "roles";
      const roleNs = roleKind === "roles" ? ns : undefined;
      const role = await kubeRequest<Role>(kc, { path: `${path(roleKind, roleNs)}/${b.roleRef.name}` });
      const name = `${clone}-${b.metadata.name}`;
      const rules = role.rules.flatMap((r) => edit(structuredClone(r)) ?? []);
      await kubeRequest(kc, {
        method: "POST",
        path: path(roleKind, roleNs),
        body: { apiVersion: "rbac.authorization.k8s.io/v1", kind: b.roleRef.kind, metadata: { name }, rules },
      });
      await kubeRequest(kc, {
        method: "POST",
        path: path(bindingKind, ns),
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: ns === undefined ? "ClusterRoleBinding" : "RoleBinding",
          metadata: { name },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: b.roleRef.kind, name },
          subjects: [subject],
        },
      });
    }
  }
  return (await p.account(clone)).path;
}

const without =
  (resource: string, verbs?: string[]) =>
  (r: Rule): Rule | undefined => {
    if (!r.resources.includes(resource)) return r;
    if (verbs === undefined)
      return r.resources.length > 1 ? { ...r, resources: r.resources.filter((x) => x !== resource) } : undefined;
    const left = r.verbs.filter((v) => !verbs.includes(v));
    return left.length > 0 ? { ...r, verbs: left } : undefined;
  };

/** Waits until the program's log says it was forbidden what it needed; returns the log. */
async function forbiddenInLog(prog: { logFile: string }, resource: RegExp): Promise<string> {
  return slowly(() => {
    let log = "";
    try {
      log = readFileSync(prog.logFile, "utf8");
    } catch {
      // Not written yet.
    }
    return /forbidden/i.test(log) && resource.test(log) ? log : undefined;
  }, `a "forbidden" naming ${resource} in ${prog.logFile}`);
}

const readyz = (url: string, caPem?: string): Promise<number> =>
  new Promise((resolve) => {
    const req = request(`${url}/readyz`, { ca: caPem, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.end();
  });

describe("real cluster: each program's RBAC is what it needs, and no more", function () {
  this.timeout(180_000);
  let p: PodidCluster;
  let webhook: RunningProgram;
  let azure: AzureFixture;

  before(async () => {
    ({ p, webhook } = await sharedPodid());
    azure = await startTestAzure();
  });
  after(async () => {
    await p.pointWebhooksAt(webhook.port);
    await azure?.pg.stop();
  });

  const cannot: Array<[string, string[]]> = [
    [ACCOUNTS.webhook, ["get secrets -A", "list pods -A", "create pods -n default", "patch nodes"]],
    [
      ACCOUNTS.reconciler,
      [
        "get secrets -A",
        "patch pods -A",
        "create azureidentities.aadpodidentity.k8s.io -A",
        "update leases -n default",
      ],
    ],
    [
      ACCOUNTS.nmi,
      [
        "list secrets -A",
        "patch pods -A",
        "create azureassignedidentities.aadpodidentity.k8s.io -A",
        "create pods/eviction -A",
      ],
    ],
  ];
  for (const [sa, actions] of cannot) {
    it(`${sa} cannot ${actions.join(", ")}`, async () => {
      for (const a of actions) {
        const r = await p.kubectl([
          "auth",
          "can-i",
          ...a.split(" "),
          `--as=system:serviceaccount:${SYSTEM_NAMESPACE}:${sa}`,
        ]);
        assert.equal(r.stdout.trim(), "no", `${sa} can ${a}`);
      }
    });
  }

  it("the webhook without `list namespaces` never becomes ready", async () => {
    const kubeconfig = await cloneAccount(p, ACCOUNTS.webhook, "podid-webhook-no-ns", without("namespaces"));
    const prog = await p.startWebhook({ name: "webhook-no-ns", kubeconfig, wait: false });
    try {
      await forbiddenInLog(prog, /namespaces/);
      assert.notEqual(await readyz(prog.url, p.ca.certPem), 200);
    } finally {
      await prog.stop();
    }
  });

  it("the reconciler without `azureassignedidentities/status` creates the record but never marks it Assigned", async () => {
    const kubeconfig = await cloneAccount(
      p,
      ACCOUNTS.reconciler,
      "podid-reconciler-no-status",
      without("azureassignedidentities/status"),
    );
    const ns = await p.namespace("rbac-rec");
    assert.equal(
      (await p.kubectl(["apply", "-n", ns, "-f", "-"], identityAndBinding(azure, "demo-reader", "r"))).code,
      0,
    );
    const prog = await p.startReconciler(azure, { name: "reconciler-no-status", kubeconfig });
    try {
      const pod = await admittedPod(p, ns, "app", "r", NODES[0]!.name);
      await forbiddenInLog(prog, /azureassignedidentities\/status|azureassignedidentities.*status/);
      type Aai = { spec: { podUID: string }; status?: { status?: string } };
      const mine = await slowly(async () => {
        const aais = await p.kubectl(["get", "azureassignedidentities", "-n", ns, "-o", "json"]);
        const items = (JSON.parse(aais.stdout) as { items: Aai[] }).items.filter(
          (a) => a.spec.podUID === pod.metadata.uid,
        );
        return items.length === 1 ? items : undefined;
      }, "the pod's AzureAssignedIdentity");
      assert.notEqual(mine[0]!.status?.status, "Assigned");
    } finally {
      await prog.stop();
    }
  });

  it("the reconciler without its Lease never leads, so it writes nothing", async () => {
    const kubeconfig = await cloneAccount(p, ACCOUNTS.reconciler, "podid-reconciler-no-lease", without("leases"));
    const prog = await p.startReconciler(azure, { name: "reconciler-no-lease", kubeconfig });
    try {
      await forbiddenInLog(prog, /leases/);
      const metrics = await (await fetch(`${prog.url}/metrics`)).text();
      assert.match(metrics, /^podid_reconciler_leader 0$/m);
    } finally {
      await prog.stop();
    }
  });

  it("the NMI without `watch pods` never becomes ready", async () => {
    const kubeconfig = await cloneAccount(p, ACCOUNTS.nmi, "podid-nmi-no-pods", without("pods", ["list", "watch"]));
    const prog = await p.startNmi(NODES[1]!.name, azure, { name: "nmi-no-pods", kubeconfig, wait: false });
    try {
      await forbiddenInLog(prog, /pods/);
      const status = await fetch(`${prog.url}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      assert.notEqual(status, 200);
    } finally {
      await prog.stop();
    }
  });

  describe("the self-signed bootstrap (config/webhook/self-signed)", () => {
    before(async () => {
      // Its extra RBAC, as config/self-signed applies it with the rest.
      const objects = await renderKustomization(join(ROOT, "config", "webhook", "self-signed"));
      const extra = objects.filter((o) => o.metadata.name === "podid-webhook-self-signed");
      assert.equal(extra.length, 4);
      const r = await p.kubectl(["apply", "-f", "-"], extra.map((o) => JSON.stringify(o)).join("\n"));
      assert.equal(r.code, 0, r.stderr);
    });
    after(() =>
      p.kubectl(["delete", "secret", "-n", SYSTEM_NAMESPACE, WEBHOOK.selfSignedSecretName, "--ignore-not-found"]),
    );

    const selfSigned = async (name: string, kubeconfig: string) => {
      const port = await freePort();
      const prog = spawnPodid({
        name,
        logDir: p.logDir,
        args: [
          "webhook",
          "--self-signed",
          "--kubeconfig",
          kubeconfig,
          "--admission-key-file",
          p.keyFile,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "--tls-cert-file",
          join(p.dir, name, "tls.crt"),
          "--tls-key-file",
          join(p.dir, name, "tls.key"),
        ],
      });
      return { prog, port };
    };

    it("without patching the webhook configurations it stops, saying it was forbidden", async () => {
      const kubeconfig = await cloneAccount(p, ACCOUNTS.webhook, "podid-webhook-no-patch", (r) =>
        r.resources.some((x) => x.endsWith("webhookconfigurations")) ? undefined : r,
      );
      const { prog } = await selfSigned("self-signed-no-patch", kubeconfig);
      assert.notEqual(await prog.exited, 0);
      await forbiddenInLog(prog, /webhookconfigurations/);
    });

    it("as podid-webhook: makes the CA and certificate, keeps them in a Secret, patches both caBundles, serves the Service's name", async () => {
      const { prog, port } = await selfSigned("self-signed", (await p.account(ACCOUNTS.webhook)).path);
      try {
        const secret = await slowly(async () => {
          const r = await p.kubectl([
            "get",
            "secret",
            "-n",
            SYSTEM_NAMESPACE,
            WEBHOOK.selfSignedSecretName,
            "-o",
            "json",
          ]);
          return r.code === 0 ? (JSON.parse(r.stdout) as { data: Record<string, string> }) : undefined;
        }, "the self-signed Secret");
        const caPem = Buffer.from(secret.data["ca.crt"]!, "base64").toString();
        const bundles = async (): Promise<string[]> => {
          const out: string[] = [];
          for (const [kind, name] of [
            ["mutatingwebhookconfiguration", WEBHOOK.mutatingConfigName],
            ["validatingwebhookconfiguration", WEBHOOK.validatingConfigName],
          ] as const) {
            const r = await p.kubectl(["get", kind, name, "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}"]);
            out.push(...r.stdout.split(" ").map((b) => Buffer.from(b, "base64").toString()));
          }
          return out;
        };
        const patched = await slowly(async () => {
          const all = await bundles();
          return all.every((b) => b === caPem) ? all : undefined;
        }, "both configurations' caBundles to be the self-signed CA");
        assert.equal(patched.length, 5);
        // What the API server checks when it calls the Service: the bundle verifies the certificate for its name.
        const servername = `${WEBHOOK.serviceName}.${SYSTEM_NAMESPACE}.svc`;
        const handshake = (): Promise<boolean | undefined> =>
          new Promise((resolve) => {
            const s = connect({ host: "127.0.0.1", port, servername, ca: caPem }, () => {
              resolve(s.authorized);
              s.end();
            });
            s.on("error", () => resolve(undefined));
          });
        assert.equal(await slowly(handshake, "the self-signed webhook's TLS handshake"), true);
      } finally {
        await prog.stop();
      }
    });
  });
});
