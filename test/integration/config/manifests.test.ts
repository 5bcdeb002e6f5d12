// `kubectl kustomize config/default` is the install: it must render with the machine's kubectl
// and every object must validate against its kind's schema (kubernetes-models, and
// cert-manager's models for its kinds).
import assert from "node:assert/strict";
import { planInstall, renderKustomization, type KObj } from "../../../src/playground/install.ts";
import { API_VERSION, SYSTEM_NAMESPACE, WEBHOOK } from "../../../src/model/constants.ts";
import {
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../../../src/model/parse.ts";

interface Validatable {
  validate(): void;
}
type ModelCtor = new (o: unknown) => Validatable;

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

  it("points both webhook configurations at podid's Service and asks cert-manager for the CA", () => {
    for (const kind of ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]) {
      const cfg = objects.find((o) => o.kind === kind)!;
      assert.equal(
        cfg.metadata.annotations?.["cert-manager.io/inject-ca-from"],
        `${SYSTEM_NAMESPACE}/${WEBHOOK.serviceName}`,
      );
      const hooks = cfg.webhooks as Array<{
        clientConfig: { service: { name: string; namespace: string } };
        failurePolicy: string;
        sideEffects: string;
      }>;
      assert.ok(hooks.length > 0);
      for (const h of hooks) {
        assert.deepEqual(
          [h.clientConfig.service.namespace, h.clientConfig.service.name],
          [SYSTEM_NAMESPACE, WEBHOOK.serviceName],
        );
        assert.equal(h.failurePolicy, "Fail");
        assert.equal(h.sideEffects, "None");
      }
    }
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
