import assert from "node:assert/strict";
import {
  namespaceMatches,
  resourceMatches,
  ruleMatches,
  webhooksOf,
  type AdmissionAttributes,
  type Webhook,
} from "../../../../src/playground/kube/admission/match.ts";
import {
  buildReview,
  denial,
  InvalidResponse,
  readResponse,
} from "../../../../src/playground/kube/admission/review.ts";
import { targetOf } from "../../../../src/playground/kube/admission/call.ts";
import { Registry } from "../../../../src/playground/kube/resources.ts";
import type { KObject } from "../../../../src/playground/kube/types.ts";

const reg = new Registry();
const pods = reg.get("", "v1", "pods")!;
const namespaces = reg.get("", "v1", "namespaces")!;
const nodes = reg.get("", "v1", "nodes")!;

const attrs = (over: Partial<AdmissionAttributes> = {}): AdmissionAttributes => ({
  def: pods,
  subresource: "",
  kind: { group: "", version: "v1", kind: "Pod" },
  operation: "CREATE",
  namespace: "team-a",
  name: "",
  object: { metadata: { generateName: "d2-", labels: { app: "x" } } },
  dryRun: false,
  options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
  user: { username: "u", groups: [] },
  ...over,
});

const hook = (over: Partial<Webhook> = {}): Webhook => ({
  name: "pods.podid.example",
  configuration: "c",
  clientConfig: { url: "https://127.0.0.1:9443/mutate" },
  rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
  failurePolicy: "Fail",
  sideEffects: "None",
  timeoutSeconds: 10,
  reinvocationPolicy: "Never",
  ...over,
});

describe("playground kube admission decisions", () => {
  const resourceCases: Array<[string[], string, string, boolean]> = [
    [["pods"], "pods", "", true],
    [["pods"], "pods", "status", false],
    [["pods/status"], "pods", "status", true],
    [["pods/*"], "pods", "status", true],
    [["pods/*"], "pods", "", false],
    [["*"], "pods", "", true],
    [["*"], "pods", "status", false],
    [["*/*"], "pods", "binding", true],
    [["*/status"], "deployments", "status", true],
    [["configmaps"], "pods", "", false],
  ];
  for (const [patterns, plural, sub, want] of resourceCases) {
    it(`resources ${JSON.stringify(patterns)} vs ${plural}${sub === "" ? "" : "/" + sub} → ${want}`, () =>
      assert.equal(resourceMatches(patterns, plural, sub), want));
  }

  it("matches operations, groups, versions and scope", () => {
    assert.equal(
      ruleMatches({ operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"] }, attrs()),
      true,
    );
    assert.equal(
      ruleMatches({ operations: ["UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }, attrs()),
      false,
    );
    assert.equal(
      ruleMatches({ operations: ["CREATE"], apiGroups: ["apps"], apiVersions: ["v1"], resources: ["pods"] }, attrs()),
      false,
    );
    assert.equal(
      ruleMatches(
        { operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["*"], scope: "Cluster" },
        attrs(),
      ),
      false,
    );
    assert.equal(
      ruleMatches(
        { operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["*"], scope: "Cluster" },
        attrs({ def: nodes, namespace: "" }),
      ),
      true,
    );
  });

  it("applies namespaceSelector to the namespace's labels, to a Namespace's own labels, and never to cluster-scoped objects", () => {
    const sel = hook({
      namespaceSelector: {
        matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] }],
      },
    });
    assert.equal(namespaceMatches(sel, attrs(), { "kubernetes.io/metadata.name": "team-a" }), true);
    assert.equal(namespaceMatches(sel, attrs(), { "kubernetes.io/metadata.name": "kube-system" }), false);
    assert.equal(
      namespaceMatches(
        sel,
        attrs({
          def: namespaces,
          namespace: "",
          object: { metadata: { labels: { "kubernetes.io/metadata.name": "kube-system" } } },
        }),
        undefined,
      ),
      false,
    );
    assert.equal(
      namespaceMatches(hook({ namespaceSelector: { matchLabels: { x: "y" } } }), attrs({ def: nodes }), undefined),
      true,
    );
  });

  it("orders webhooks by configuration name", () => {
    const cfg = (name: string, hooks: string[]): KObject => ({
      metadata: { name },
      webhooks: hooks.map((h) => ({ name: h, rules: [] })),
    });
    assert.deepEqual(
      webhooksOf([cfg("b", ["b1"]), cfg("a", ["a1", "a2"])]).map((w) => w.name),
      ["a1", "a2", "b1"],
    );
  });

  it("builds reviews without name for generateName creates and with subResource when set", () => {
    const r = buildReview(attrs(), "uid-1") as { request: Record<string, unknown> };
    assert.equal(r.request.uid, "uid-1");
    assert.equal("name" in r.request, false);
    assert.equal("subResource" in r.request, false);
    assert.deepEqual(r.request.oldObject, null);
    const s = buildReview(attrs({ subresource: "status", name: "p", operation: "UPDATE" }), "u") as {
      request: Record<string, unknown>;
    };
    assert.equal(s.request.subResource, "status");
    assert.equal(s.request.name, "p");
  });

  const denials: Array<[unknown, number, string, string]> = [
    [
      { code: 403, reason: "Forbidden", message: "M" },
      403,
      "Forbidden",
      'admission webhook "w.example.com" denied the request: M',
    ],
    [{ message: "M" }, 400, "", 'admission webhook "w.example.com" denied the request: M'],
    [
      { code: 403, reason: "Forbidden" },
      403,
      "Forbidden",
      'admission webhook "w.example.com" denied the request: Forbidden',
    ],
    [undefined, 400, "", 'admission webhook "w.example.com" denied the request without explanation'],
    [{ code: 200, message: "M" }, 400, "", 'admission webhook "w.example.com" denied the request: M'],
  ];
  for (const [st, code, reason, message] of denials) {
    it(`words a denial with status ${JSON.stringify(st)}`, () => {
      const e = denial("w.example.com", st, []);
      assert.deepEqual([e.code, e.reason, e.message], [code, reason, message]);
    });
  }

  it("reads patches and refuses answers with the wrong uid or envelope", () => {
    const patch = Buffer.from(JSON.stringify([{ op: "add", path: "/x", value: 1 }])).toString("base64");
    const ok = readResponse("w", "u1", {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "u1", allowed: true, patchType: "JSONPatch", patch, warnings: ["w1"] },
    });
    assert.deepEqual(ok, { allowed: true, patch: [{ op: "add", path: "/x", value: 1 }], warnings: ["w1"] });
    assert.throws(
      () =>
        readResponse("w", "u1", {
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          response: { uid: "u2", allowed: true },
        }),
      InvalidResponse,
    );
    assert.throws(
      () =>
        readResponse("w", "u1", {
          apiVersion: "admission.k8s.io/v1beta1",
          kind: "AdmissionReview",
          response: { uid: "u1", allowed: true },
        }),
      InvalidResponse,
    );
  });

  it("targets service references at <svc>.<ns>.svc with the timeout in the URL", () => {
    const t = targetOf(
      hook({
        clientConfig: { service: { namespace: "podid-system", name: "podid-webhook", path: "/mutate/pods" } },
        timeoutSeconds: 5,
      }),
      () => ({ host: "127.0.0.1", port: 19443 }),
    );
    assert.deepEqual(t, {
      displayUrl: "https://podid-webhook.podid-system.svc:443/mutate/pods?timeout=5s",
      host: "127.0.0.1",
      port: 19443,
      path: "/mutate/pods?timeout=5s",
      servername: "podid-webhook.podid-system.svc",
    });
    assert.equal(targetOf(hook(), () => undefined).displayUrl, "https://127.0.0.1:9443/mutate?timeout=10s");
  });
});
