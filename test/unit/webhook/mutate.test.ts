import assert from "node:assert/strict";
import { ADMISSION_MARK_ANNOTATION, NMI_MODE_ANNOTATION, SIDECAR } from "../../../src/model/constants.ts";
import { mutatePod, podPatch, type MutationPlan } from "../../../src/webhook/mutate.ts";
import { rsPod } from "./fixtures.ts";

type Obj = Record<string, unknown>;
const spec = (p: Obj) => p.spec as { containers: Obj[]; initContainers?: Obj[]; volumes?: Obj[] };
const names = (list: Obj[] | undefined) => (list ?? []).map((x) => x.name);

describe("webhook: pod mutation", () => {
  const daemonset: MutationPlan = { mark: "v1.k.m", nmiMode: "daemonset", clientID: "c", sidecarImage: "podid:test" };
  const sidecar: MutationPlan = { mark: "v1.k.m", nmiMode: "sidecar", sidecarImage: "podid:test" };

  it("does not touch its input", () => {
    const pod = rsPod();
    const before = structuredClone(pod);
    mutatePod(pod, sidecar);
    assert.deepEqual(pod, before);
  });

  for (const [name, plan] of [
    ["daemonset", daemonset],
    ["sidecar", sidecar],
  ] as const)
    it(`${name}: a second pass changes nothing`, () => {
      const once = mutatePod(rsPod(), plan);
      assert.deepEqual(podPatch(once, plan), []);
    });

  it("sidecar: injects the NMI container, the projected token volume and the loopback authority host", () => {
    const pod = rsPod(undefined, { initContainers: [{ name: "init", image: "busybox" }] });
    const out = mutatePod(pod, sidecar);
    const s = spec(out);
    assert.deepEqual(names(s.containers), ["myapp", SIDECAR.containerName]);
    const nmi = s.containers[1]!;
    assert.equal(nmi.image, "podid:test");
    assert.deepEqual(nmi.args, ["nmi", "--mode=sidecar", "--host=127.0.0.1", "--port=2580"]);
    assert.deepEqual(nmi.env, [
      { name: "PODID_HOST_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.hostIP" } } },
      { name: "PODID_NMI_ENDPOINT", value: "http://$(PODID_HOST_IP):2579" },
    ]);
    assert.deepEqual(s.volumes, [{ name: "podid-nmi-token", projected: { sources: [{ serviceAccountToken: { audience: "podid-nmi", expirationSeconds: 3600, path: "token" } }] } }]);
    for (const c of [s.containers[0]!, s.initContainers![0]!]) assert.deepEqual(c.env, [...(c.name === "myapp" ? [{ name: "LOG_LEVEL", value: "info" }] : []), { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://127.0.0.1:2580" }]);
    const ann = (out.metadata as { annotations: Record<string, string> }).annotations;
    assert.deepEqual([ann[ADMISSION_MARK_ANNOTATION], ann[NMI_MODE_ANNOTATION]], ["v1.k.m", "sidecar"]);
  });

  it("keeps env vars the user already set (checked by name)", () => {
    const pod = rsPod();
    spec(pod).containers[0]!.env = [{ name: "AZURE_CLIENT_ID", value: "mine" }, { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://proxy" }];
    const env = spec(mutatePod(pod, daemonset)).containers[0]!.env as Obj[];
    assert.deepEqual(env.map((e) => [e.name, e.value]), [
      ["AZURE_CLIENT_ID", "mine"],
      ["AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://proxy"],
      ["PODID_HOST_IP", undefined],
    ]);
  });

  it("no mark: removes a copied one and adds nothing", () => {
    const pod = rsPod();
    (pod.metadata as Obj).annotations = { [ADMISSION_MARK_ANNOTATION]: "copied" };
    assert.deepEqual(podPatch(pod, { nmiMode: "daemonset", sidecarImage: "x" }), [{ op: "remove", path: "/metadata/annotations" }]);
  });

  it("escapes the annotation key in the patch path", () => {
    const ops = podPatch(rsPod(), daemonset);
    assert.ok(ops.some((o) => o.op === "add" && o.path === "/metadata/annotations"));
    const annotated = rsPod();
    (annotated.metadata as Obj).annotations = { other: "1" };
    assert.ok(podPatch(annotated, daemonset).some((o) => o.path === "/metadata/annotations/aadpodidentity.k8s.io~1admission-mark"));
  });
});
