import assert from "node:assert/strict";
import fc from "fast-check";
import fastJsonPatch from "fast-json-patch";
import { ADMISSION_MARK_ANNOTATION, ENV, NMI_MODE_ANNOTATION, SIDECAR } from "../../../src/model/constants.ts";
import { mutatePod, podPatch, type MutationPlan } from "../../../src/webhook/mutate.ts";
import { patched } from "../../../src/webhook/responses.ts";
import { rsPod } from "./fixtures.ts";

type Obj = Record<string, unknown>;
const spec = (p: Obj) => p.spec as { containers: Obj[]; initContainers?: Obj[]; volumes?: Obj[] };
const names = (list: Obj[] | undefined) => (list ?? []).map((x) => x.name);

describe("webhook: pod mutation", () => {
  const daemonset: MutationPlan = { mark: "v1.k.m", nmiMode: "daemonset", clientID: "c", sidecarImage: "podid:test" };
  const nmiTls = {
    caPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
    serverName: "podid-nmi.podid-system.svc",
  };
  const sidecar: MutationPlan = { mark: "v1.k.m", nmiMode: "sidecar", sidecarImage: "podid:test", nmiTls };

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
    assert.deepEqual(nmi.args, ["nmi", "--mode=sidecar", "--host=127.0.0.1", "--port=2580", "--metrics-port=2581"]);
    assert.deepEqual(nmi.ports, [{ name: "podid-metrics", containerPort: 2581, protocol: "TCP" }]);
    assert.deepEqual(nmi.env, [
      { name: "PODID_HOST_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.hostIP" } } },
      { name: "PODID_NMI_ENDPOINT", value: "https://$(PODID_HOST_IP):2578" },
      { name: "PODID_NMI_CA", value: nmiTls.caPem },
      { name: "PODID_NMI_SERVER_NAME", value: "podid-nmi.podid-system.svc" },
    ]);
    assert.deepEqual(s.volumes, [
      {
        name: "podid-nmi-token",
        projected: {
          sources: [{ serviceAccountToken: { audience: "podid-nmi", expirationSeconds: 3600, path: "token" } }],
        },
      },
    ]);
    for (const c of [s.containers[0]!, s.initContainers![0]!])
      assert.deepEqual(c.env, [
        ...(c.name === "myapp" ? [{ name: "LOG_LEVEL", value: "info" }] : []),
        { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://127.0.0.1:2580" },
      ]);
    const ann = (out.metadata as { annotations: Record<string, string> }).annotations;
    assert.deepEqual([ann[ADMISSION_MARK_ANNOTATION], ann[NMI_MODE_ANNOTATION]], ["v1.k.m", "sidecar"]);
  });

  it("keeps env vars the user already set (checked by name)", () => {
    const pod = rsPod();
    spec(pod).containers[0]!.env = [
      { name: "AZURE_CLIENT_ID", value: "mine" },
      { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://proxy" },
    ];
    const env = spec(mutatePod(pod, daemonset)).containers[0]!.env as Obj[];
    assert.deepEqual(
      env.map((e) => [e.name, e.value]),
      [
        ["AZURE_CLIENT_ID", "mine"],
        ["AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://proxy"],
        ["PODID_HOST_IP", undefined],
      ],
    );
  });

  it("no mark: removes every podid annotation a pod brought along, and adds nothing", () => {
    const pod = rsPod();
    (pod.metadata as Obj).annotations = {
      [ADMISSION_MARK_ANNOTATION]: "copied",
      [NMI_MODE_ANNOTATION]: "daemonset",
      "aadpodidentity.k8s.io/admitted-identities": "[]",
    };
    assert.deepEqual(podPatch(pod, { nmiMode: "daemonset", sidecarImage: "x" }), [
      { op: "remove", path: "/metadata/annotations" },
    ]);
  });

  it("escapes the annotation key in the patch path", () => {
    const ops = podPatch(rsPod(), daemonset);
    assert.ok(ops.some((o) => o.op === "add" && o.path === "/metadata/annotations"));
    const annotated = rsPod();
    (annotated.metadata as Obj).annotations = { other: "1" };
    assert.ok(
      podPatch(annotated, daemonset).some(
        (o) => o.path === "/metadata/annotations/aadpodidentity.k8s.io~1admission-mark",
      ),
    );
  });

  describe("the patch diffed over the mutation view, remembered per input", () => {
    // Pods with what mutatePod looks at (marks, our env names, the sidecar's names, nulls and
    // odd shapes) among fields it must leave alone.
    const name = fc.constantFrom("app", "worker", SIDECAR.containerName, "init");
    const envName = fc.constantFrom(
      "LOG_LEVEL",
      ENV.clientId,
      ENV.podIdentityAuthorityHost,
      SIDECAR.hostIpEnv,
      "OTHER",
    );
    const envVar = fc.oneof(
      fc.record({ name: envName, value: fc.string({ maxLength: 5 }) }),
      fc.constant(null),
      fc.constant("x"),
    );
    const container = fc.oneof(
      fc.record(
        {
          name,
          image: fc.constant("img"),
          env: fc.option(fc.array(envVar, { maxLength: 4 }), { nil: undefined }),
          ports: fc.constant([{ containerPort: 80 }]),
        },
        { requiredKeys: ["name"] },
      ),
      fc.constant(null),
    );
    const volume = fc.record({
      name: fc.constantFrom("data", SIDECAR.tokenVolumeName, "kube-api-access-x7k2p"),
      emptyDir: fc.constant({}),
    });
    const annotations = fc.option(
      fc.dictionary(
        fc.constantFrom(ADMISSION_MARK_ANNOTATION, NMI_MODE_ANNOTATION, "a/b", "c~d"),
        fc.string({ maxLength: 4 }),
      ),
      { nil: undefined },
    );
    const pod = fc
      .record(
        {
          metadata: fc.record(
            { generateName: fc.constant("p-"), labels: fc.constant({ app: "x" }), annotations },
            { requiredKeys: ["generateName"] },
          ),
          spec: fc.record(
            {
              containers: fc.array(container, { maxLength: 3 }),
              initContainers: fc.array(container, { maxLength: 2 }),
              volumes: fc.oneof(fc.array(volume, { maxLength: 3 }), fc.constant(null)),
              serviceAccountName: fc.constant("sa"),
              hostNetwork: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: ["metadata"] },
      )
      .map((p) => JSON.parse(JSON.stringify(p)) as Obj); // as the webhook gets pods: parsed JSON, no undefined
    const plan: fc.Arbitrary<MutationPlan> = fc.record(
      {
        mark: fc.constantFrom("v1.k.m1", "v1.k.m2"),
        nmiMode: fc.constantFrom("daemonset" as const, "sidecar" as const),
        clientID: fc.constantFrom("c1", "c2"),
        sidecarImage: fc.constant("podid:test"),
      },
      { requiredKeys: ["nmiMode", "sidecarImage"] },
    );

    it("gives exactly the operations of diffing the whole pod with its mutated copy", () => {
      fc.assert(
        fc.property(pod, plan, (p, pl) => {
          assert.deepEqual(podPatch(p, pl), fastJsonPatch.compare(p, mutatePod(p, pl)));
        }),
        { numRuns: 2000 },
      );
    });

    it("remembers a patch for the same pod template and plan, never for a different one", () => {
      const first = podPatch(rsPod(), daemonset);
      assert.equal(podPatch(rsPod(), daemonset), first, "a second pod of the template shares the first one's patch");
      assert.ok(Object.isFrozen(first) && Object.isFrozen(first[0]), "shared patches are frozen");
      const otherMark = podPatch(rsPod(), { ...daemonset, mark: "v1.k.other" });
      assert.ok(otherMark.some((o) => o.op === "add" && JSON.stringify(o).includes("v1.k.other")));
      const moreEnv = rsPod();
      spec(moreEnv).containers[0]!.env = [{ name: ENV.clientId, value: "mine" }];
      assert.ok(
        !podPatch(moreEnv, daemonset).some((o) => JSON.stringify(o).includes('"c"')),
        "the user's AZURE_CLIENT_ID is kept: no stale patch",
      );
      const inSidecarMode = rsPod();
      assert.deepEqual(
        podPatch(inSidecarMode, sidecar),
        fastJsonPatch.compare(inSidecarMode, mutatePod(inSidecarMode, sidecar)),
      );
    });

    it("does not remember the patch of a pod whose view is large (a 3 MB review must not pin 3 MB)", () => {
      const big = rsPod();
      spec(big).containers[0]!.env = [{ name: "BLOB", value: "x".repeat(64 * 1024) }];
      const ops = podPatch(big, daemonset);
      assert.ok(!Object.isFrozen(ops), "computed afresh, not shared");
      assert.notEqual(podPatch(big, daemonset), ops);
      assert.deepEqual(podPatch(big, daemonset), fastJsonPatch.compare(big, mutatePod(big, daemonset)));
    });

    it("encodes a shared patch as an unshared one would be", () => {
      const ops = podPatch(rsPod(), daemonset);
      const fresh = structuredClone<typeof ops>(ops);
      assert.equal(patched("u1", ops).patch, patched("u2", fresh).patch);
      assert.equal(patched("u3", ops).patch, Buffer.from(JSON.stringify(ops)).toString("base64"));
    });
  });
});
