// The HTTP edge through Fastify's inject (no sockets): authentication, Status errors, Tables,
// warnings and the API discovery documents.
import assert from "node:assert/strict";
import { KubeApi } from "../../../../src/playground/kube/api.ts";
import { buildHttpApp } from "../../../../src/playground/kube/http.ts";
import { Registry } from "../../../../src/playground/kube/resources.ts";
import { Store } from "../../../../src/playground/kube/store.ts";
import { TokenApi } from "../../../../src/playground/kube/token-api.ts";
import { TokenSigner } from "../../../../src/playground/kube/tokens.ts";
import { createCertificateAuthority } from "../../../../src/shared/pki.ts";

describe("playground kube HTTP edge", () => {
  const ca = createCertificateAuthority("unit CA");
  const serving = ca.issue({ commonName: "kube", ipAddresses: ["127.0.0.1"] });
  const api = new KubeApi(new Registry(), new Store(), () => undefined);
  const nsDef = api.registry.byResourceKey("namespaces")!;
  api.store.put(nsDef, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "default", uid: "ns-uid", creationTimestamp: "2026-01-01T00:00:00Z" },
  });
  const tokens = new TokenApi(api, new TokenSigner());
  const { app } = buildHttpApp(api, {
    https: { key: serving.keyPem, cert: serving.certPem },
    authenticate: (t) => (t === "admin" ? { username: "admin", groups: ["system:masters"] } : undefined),
    tokens,
    serverAddress: () => "https://127.0.0.1:6443",
    bookmarkIntervalMs: 1000,
    jwks: () => tokens.signer.jwks(),
    issuer: () => "https://kubernetes.default.svc.cluster.local",
  });
  const auth = { authorization: "Bearer admin" };
  after(() => app.close());

  it("serves /version anonymously and refuses anonymous API requests with a 401 Status", async () => {
    assert.equal((await app.inject({ url: "/version" })).json<{ gitVersion: string }>().gitVersion, "v1.32.4");
    const r = await app.inject({ url: "/api/v1/namespaces" });
    assert.equal(r.statusCode, 401);
    assert.deepEqual(r.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
    assert.equal(
      (await app.inject({ url: "/api/v1/namespaces", headers: { authorization: "Bearer nope" } })).statusCode,
      401,
    );
  });

  it("answers kubectl's Table Accept header with rows carrying PartialObjectMetadata", async () => {
    const r = await app.inject({
      url: "/api/v1/namespaces?limit=500",
      headers: { ...auth, accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" },
    });
    const t = r.json<{
      kind: string;
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[]; object: { kind: string } }>;
    }>();
    assert.equal(t.kind, "Table");
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ["Name", "Status", "Age"],
    );
    assert.equal(t.rows[0]!.cells[0], "default");
    assert.equal(t.rows[0]!.object.kind, "PartialObjectMetadata");
  });

  it("lists as a typed List and 404s unknown names with the real message", async () => {
    const list = (await app.inject({ url: "/api/v1/namespaces", headers: auth })).json<{
      kind: string;
      items: unknown[];
    }>();
    assert.equal(list.kind, "NamespaceList");
    assert.equal(list.items.length, 1);
    const missing = await app.inject({ url: "/api/v1/namespaces/default/configmaps/nosuch", headers: auth });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json<{ message: string; details: unknown }>().details, {
      name: "nosuch",
      kind: "configmaps",
    });
  });

  it("refuses a POST to a single object and methods a resource does not have", async () => {
    assert.equal(
      (
        await app.inject({
          method: "POST",
          url: "/api/v1/namespaces/default/configmaps/x",
          headers: { ...auth, "content-type": "application/json" },
          payload: "{}",
        })
      ).statusCode,
      405,
    );
    assert.equal(
      (await app.inject({ method: "GET", url: "/apis/authentication.k8s.io/v1/tokenreviews", headers: auth }))
        .statusCode,
      405,
    );
  });

  it("publishes discovery and the OpenAPI v3 kubectl apply needs", async () => {
    const index = (await app.inject({ url: "/openapi/v3", headers: auth })).json<{
      paths: Record<string, { serverRelativeURL: string }>;
    }>();
    assert.match(index.paths["api/v1"]!.serverRelativeURL, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]+$/);
    const doc = (await app.inject({ url: index.paths["api/v1"]!.serverRelativeURL, headers: auth })).json<{
      paths: Record<
        string,
        { patch?: { parameters: Array<{ name: string }>; "x-kubernetes-group-version-kind": unknown } }
      >;
    }>();
    const patch = doc.paths["/api/v1/namespaces/{namespace}/pods/{name}"]!.patch!;
    assert.deepEqual(patch["x-kubernetes-group-version-kind"], { group: "", version: "v1", kind: "Pod" });
    assert.ok(patch.parameters.some((p) => p.name === "fieldValidation"));
    const apis = (await app.inject({ url: "/apis/apps/v1", headers: auth })).json<{
      resources: Array<{ name: string; kind: string }>;
    }>();
    assert.deepEqual(
      apis.resources.filter((r) => r.name.startsWith("deployments")).map((r) => `${r.name}:${r.kind}`),
      ["deployments:Deployment", "deployments/status:Deployment", "deployments/scale:Scale"],
    );
  });
});
