// `kubectl kustomize config/default` is the install: it must render with the machine's kubectl
// and every object must validate against its kind's schema (kubernetes-models, and
// cert-manager's published schemas for its kinds). It must also apply in one command: no object
// of a kind that a CRD of the same install defines. The webhooks fail the way
// docs/webhook.md says, the serving certificate comes from a CA of podid's own, and the sidecar
// image follows the image kustomize sets.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { planInstall, renderKustomization, type KObj } from "../../../src/playground/install.ts";
import { API_VERSION, SYSTEM_NAMESPACE, WEBHOOK } from "../../../src/model/constants.ts";
import {
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../../../src/model/parse.ts";
import { webhookCommand } from "../../../src/webhook/command.ts";

interface Validatable {
  validate(): void;
}
type ModelCtor = new (o: unknown) => Validatable;

const CONFIG = fileURLToPath(new URL("../../../config", import.meta.url));

/** podid's own kinds are checked by podid's parsers, the same the programs use. */
const PODID_PARSERS: Record<string, (o: unknown) => { ok: boolean; errors?: unknown }> = {
  AzureIdentity: parseAzureIdentity,
  AzureIdentityBinding: parseAzureIdentityBinding,
  AzurePodIdentityException: parseAzurePodIdentityException,
  AzurePodIdentityPolicy: parseAzurePodIdentityPolicy,
};

async function modelFor(o: KObj): Promise<ModelCtor> {
  const parse = o.apiVersion === API_VERSION ? PODID_PARSERS[o.kind] : undefined;
  if (parse !== undefined) {
    return class {
      constructor(private readonly obj: unknown) {}
      validate(): void {
        const r = parse(this.obj);
        if (!r.ok) throw new Error(JSON.stringify(r.errors));
      }
    };
  }
  const pkg = o.apiVersion.startsWith("cert-manager.io/") ? "@kubernetes-models/cert-manager" : "kubernetes-models";
  const mod = (await import(`${pkg}/${o.apiVersion}`)) as Record<string, ModelCtor>;
  const ctor = mod[o.kind];
  assert.ok(ctor, `no schema model for ${o.apiVersion} ${o.kind}`);
  return ctor;
}

interface Hook {
  name: string;
  failurePolicy: string;
  sideEffects: string;
  timeoutSeconds: number;
  rules: Array<{ operations: string[]; resources: string[] }>;
  objectSelector?: { matchExpressions?: Array<{ key: string; operator: string }> };
  namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  clientConfig: { service: { name: string; namespace: string; path: string } };
}
const hooksOf = (objects: KObj[]): Hook[] =>
  objects.filter((o) => /WebhookConfiguration$/.test(o.kind)).flatMap((o) => o.webhooks as Hook[]);
const byName = (objects: KObj[], kind: string, name: string): KObj => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind} ${name}`);
  return o;
};
const get = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur as Record<string, unknown> | undefined)?.[k], o);

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: Array<{ name: string; value?: string }>;
}
const webhookContainer = (objects: KObj[]): Container =>
  (get(byName(objects, "Deployment", "podid-webhook"), "spec.template.spec.containers") as Container[])[0]!;

describe("config/default (the install)", function () {
  this.timeout(60_000);
  let objects: KObj[];
  before(async () => {
    objects = await renderKustomization();
  });

  it("renders the whole install: CRDs, namespace, RBAC, webhook with cert-manager, reconciler, NMI", () => {
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of [
      "CustomResourceDefinition",
      "Namespace",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Service",
      "Deployment",
      "DaemonSet",
      "MutatingWebhookConfiguration",
      "ValidatingWebhookConfiguration",
      "Issuer",
      "Certificate",
    ]) {
      assert.ok(kinds.has(k), `config/default renders no ${k}`);
    }
    assert.equal(objects.filter((o) => o.kind === "CustomResourceDefinition").length, 5);
    const deployments = objects
      .filter((o) => o.kind === "Deployment")
      .map((o) => o.metadata.name)
      .sort();
    assert.deepEqual(deployments, ["podid-reconciler", "podid-webhook"]);
  });

  it("validates every rendered object against its kind's schema", async () => {
    for (const o of objects) {
      const Model = await modelFor(o);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name} does not validate`);
    }
  });

  it("applies in one command: no object of a kind its own CRDs define (kubectl maps every kind first)", () => {
    const defined = new Set(
      objects
        .filter((o) => o.kind === "CustomResourceDefinition")
        .map((o) => `${String(get(o, "spec.group"))}/${String(get(o, "spec.names.kind"))}`),
    );
    const early = objects.filter((o) => defined.has(`${o.apiVersion.split("/")[0]}/${o.kind}`));
    assert.deepEqual(
      early.map((o) => `${o.kind}/${o.metadata.name}`),
      [],
    );
  });

  it("has nothing dead: every ConfigMap key is read by a program, and every Secret a pod mounts is one the README creates or cert-manager fills", () => {
    // Each key a container reads (configMapKeyRef) exists, and each key a ConfigMap holds is read.
    const containers = objects
      .filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet")
      .flatMap((o) => (get(o, "spec.template.spec.containers") as Array<{ env?: unknown[] }>) ?? []);
    const read = containers
      .flatMap((c) => (c.env ?? []) as Array<{ valueFrom?: { configMapKeyRef?: { name: string; key: string } } }>)
      .flatMap((e) => (e.valueFrom?.configMapKeyRef !== undefined ? [e.valueFrom.configMapKeyRef] : []))
      .map((r) => `${r.name}/${r.key}`);
    const held = objects
      .filter((o) => o.kind === "ConfigMap")
      .flatMap((o) =>
        Object.keys((get(o, "data") as Record<string, string>) ?? {}).map((k) => `${o.metadata.name}/${k}`),
      );
    assert.deepEqual([...new Set(read)].sort(), held.sort());
    const mounted = objects
      .filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet")
      .flatMap((o) => (get(o, "spec.template.spec.volumes") as Array<{ secret?: { secretName: string } }>) ?? [])
      .flatMap((v) => (v.secret !== undefined ? [v.secret.secretName] : []));
    const certSecrets = objects.filter((o) => o.kind === "Certificate").map((o) => String(get(o, "spec.secretName")));
    for (const s of mounted) assert.ok(s === WEBHOOK.admissionKeySecretName || certSecrets.includes(s), s);
  });

  it("points every webhook at podid's Service, without side effects, skipping kube-system and podid-system", () => {
    const hooks = hooksOf(objects);
    assert.equal(hooks.length, 5);
    for (const h of hooks) {
      assert.deepEqual(
        [h.clientConfig.service.namespace, h.clientConfig.service.name],
        [SYSTEM_NAMESPACE, WEBHOOK.serviceName],
      );
      assert.equal(h.sideEffects, "None");
      const ns = h.namespaceSelector.matchExpressions.find((e) => e.key === "kubernetes.io/metadata.name");
      assert.deepEqual([ns?.operator, ns?.values.slice().sort()], ["NotIn", ["kube-system", SYSTEM_NAMESPACE]]);
    }
  });

  // docs/webhook.md, "When the webhook is down": only identity waits for podid.
  const FAILURE: Array<[string, string, string[], boolean]> = [
    ["mutate-pods.podid.aadpodidentity.k8s.io", "Fail", ["CREATE"], true],
    ["validate-pods.podid.aadpodidentity.k8s.io", "Fail", ["CREATE"], true],
    ["validate-pod-updates.podid.aadpodidentity.k8s.io", "Ignore", ["UPDATE"], true],
    ["validate-resources.podid.aadpodidentity.k8s.io", "Fail", ["CREATE", "UPDATE"], false],
    ["validate-workloads.podid.aadpodidentity.k8s.io", "Ignore", ["CREATE", "UPDATE"], false],
  ];
  for (const [name, policy, operations, labelledOnly] of FAILURE) {
    it(`${name}: failurePolicy ${policy} for ${operations.join(" and ")}${labelledOnly ? ", labelled pods only" : ""}`, () => {
      const h = hooksOf(objects).find((x) => x.name === name);
      assert.ok(h, `no webhook ${name}`);
      assert.equal(h.failurePolicy, policy);
      assert.deepEqual([...new Set(h.rules.flatMap((r) => r.operations))], operations);
      const selects = h.objectSelector?.matchExpressions?.some((e) => e.key === "aadpodidbinding");
      assert.equal(selects === true, labelledOnly);
    });
  }

  it("issues the serving certificate from podid's own CA and injects the CA, so renewals keep the bundle", () => {
    const selfSigned = byName(objects, "Issuer", "podid-selfsigned");
    assert.deepEqual(get(selfSigned, "spec.selfSigned"), {});
    const caCert = byName(objects, "Certificate", "podid-webhook-ca");
    assert.equal(get(caCert, "spec.isCA"), true);
    assert.equal(get(caCert, "spec.issuerRef.name"), "podid-selfsigned");
    // A renewed CA keeps its key: serving certificates it signed before stay valid.
    assert.equal(get(caCert, "spec.privateKey.rotationPolicy"), "Never");
    const caIssuer = byName(objects, "Issuer", "podid-ca");
    assert.equal(get(caIssuer, "spec.ca.secretName"), get(caCert, "spec.secretName"));
    const serving = byName(objects, "Certificate", "podid-webhook");
    assert.equal(get(serving, "spec.issuerRef.name"), "podid-ca");
    assert.notEqual(get(serving, "spec.isCA"), true);
    const issuedBySelfSigned = objects.filter(
      (o) => o.kind === "Certificate" && get(o, "spec.issuerRef.name") === "podid-selfsigned",
    );
    // The self-signed Issuer signs only CAs: the webhook's, and the NMI sidecar port's (issue 13).
    assert.deepEqual(issuedBySelfSigned.map((o) => o.metadata.name).sort(), ["podid-nmi-ca", "podid-webhook-ca"]);
    for (const ca of issuedBySelfSigned) assert.equal(get(ca, "spec.isCA"), true, ca.metadata.name);
    const nmiCa = byName(objects, "Certificate", "podid-nmi-ca");
    assert.equal(get(nmiCa, "spec.privateKey.rotationPolicy"), "Never", "sidecars hold the NMI CA from admission");
    assert.equal(get(byName(objects, "Certificate", "podid-nmi"), "spec.issuerRef.name"), "podid-nmi-ca");
    const hours = (o: KObj): number => Number(/^(\d+)h$/.exec(String(get(o, "spec.duration")))?.[1]);
    assert.ok(hours(caCert) > hours(serving) * 10, "the CA outlives many serving certificates");
    const volumes = get(byName(objects, "Deployment", "podid-webhook"), "spec.template.spec.volumes") as Array<{
      name: string;
      secret?: { secretName: string };
    }>;
    assert.equal(volumes.find((v) => v.name === "tls")?.secret?.secretName, get(serving, "spec.secretName"));
    for (const kind of ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]) {
      const cfg = objects.find((o) => o.kind === kind)!;
      assert.equal(
        cfg.metadata.annotations?.["cert-manager.io/inject-ca-from"],
        `${SYSTEM_NAMESPACE}/podid-webhook-ca`,
      );
    }
  });

  it("passes the webhook only flags podid webhook accepts, and the sidecar image through PODID_SIDECAR_IMAGE", () => {
    const c = webhookContainer(objects);
    const [sub, ...args] = c.args;
    assert.equal(sub, "webhook");
    const parsed = webhookCommand().parseOptions(args);
    assert.deepEqual([parsed.unknown, parsed.operands], [[], []]);
    assert.ok(!args.some((a) => a.startsWith("--sidecar-image")));
    assert.equal(c.env?.find((e) => e.name === "PODID_SIDECAR_IMAGE")?.value, c.image);
  });

  it("plans the playground's install from the same objects: programs run as processes, cert-manager played by the CA", () => {
    const plan = planInstall(objects, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    assert.equal(plan.apply.length + plan.skipped.length, objects.length);
    assert.deepEqual(
      plan.skipped.filter((s) => s.kind === "DaemonSet").map((s) => s.name),
      ["podid-nmi"],
    );
    assert.ok(plan.skipped.some((s) => s.kind === "Issuer"));
    const first = plan.apply[0]!;
    assert.equal(first.kind, "Namespace");
    const hooks = plan.apply
      .filter((o) => /WebhookConfiguration$/.test(o.kind))
      .flatMap((o) => o.webhooks as Array<{ clientConfig: { caBundle?: string } }>);
    assert.ok(
      hooks.length > 0 &&
        hooks.every((h) => typeof h.clientConfig.caBundle === "string" && h.clientConfig.caBundle.length > 0),
    );
  });
});

describe("config: the image kustomize sets", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podid-overlay-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** An overlay as `kustomize edit set image podid=...` leaves it: an `images:` entry over `base`. */
  async function withImage(base: string, image: Record<string, string>): Promise<KObj[]> {
    const overlay = mkdtempSync(join(dir, "o-"));
    const entry = Object.entries(image)
      .map(([k, v]) => `${k}: "${v}"`)
      .join(", ");
    writeFileSync(
      join(overlay, "kustomization.yaml"),
      `resources: [${relative(overlay, resolve(CONFIG, base))}]\nimages:\n  - { name: podid, ${entry} }\n`,
    );
    return renderKustomization(overlay);
  }

  const cases: Array<[string, Record<string, string>, string]> = [
    ["a new name and tag", { newName: "registry.example/podid", newTag: "1.2.3" }, "registry.example/podid:1.2.3"],
    [
      "a digest",
      { newName: "registry.example/podid", digest: `sha256:${"a".repeat(64)}` },
      `registry.example/podid@sha256:${"a".repeat(64)}`,
    ],
  ];
  for (const base of ["default", "self-signed", "webhook/self-signed"]) {
    for (const [what, image, expected] of cases) {
      it(`config/${base} with ${what}: every podid container and the injected sidecar use it`, async () => {
        const objects = await withImage(base, image);
        const images = objects
          .filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet")
          .flatMap((o) => get(o, "spec.template.spec.containers") as Container[])
          .map((c) => c.image);
        assert.ok(images.length > 0);
        assert.deepEqual(new Set(images), new Set([expected]));
        assert.equal(webhookContainer(objects).env?.find((e) => e.name === "PODID_SIDECAR_IMAGE")?.value, expected);
      });
    }
  }

  it("config/self-signed is config/default with the self-signed webhook instead of cert-manager's kinds", async () => {
    const key = (o: KObj): string => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const def = (await renderKustomization(join(CONFIG, "default"))).map(key);
    const self = (await renderKustomization(join(CONFIG, "self-signed"))).map(key);
    assert.deepEqual(def.filter((k) => !self.includes(k)).sort(), [
      "Certificate/podid-system/podid-nmi",
      "Certificate/podid-system/podid-nmi-ca",
      "Certificate/podid-system/podid-webhook",
      "Certificate/podid-system/podid-webhook-ca",
      "Issuer/podid-system/podid-ca",
      "Issuer/podid-system/podid-nmi-ca",
      "Issuer/podid-system/podid-selfsigned",
    ]);
    assert.deepEqual(self.filter((k) => !def.includes(k)).sort(), [
      "ClusterRole//podid-webhook-self-signed",
      "ClusterRoleBinding//podid-webhook-self-signed",
      "Role/podid-system/podid-webhook-self-signed",
      "RoleBinding/podid-system/podid-webhook-self-signed",
    ]);
  });

  it("config/webhook/self-signed: the self-signed bootstrap's flags are ones podid webhook accepts", async () => {
    const objects = await renderKustomization(join(CONFIG, "webhook", "self-signed"));
    const [sub, ...args] = webhookContainer(objects).args;
    assert.equal(sub, "webhook");
    const parsed = webhookCommand().parseOptions(args);
    assert.deepEqual([parsed.unknown, parsed.operands], [[], []]);
    assert.ok(args.includes("--self-signed"));
    assert.equal(objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/")).length, 0);
  });
});
