// Where the webhook's CPU per request goes: a Fastify HTTPS server that runs the admission one
// stage more at a time (0 fixed answer, 1 pod read + decision, 2 + HMAC mark, 3 + the patch:
// mutation view, its key, and the remembered diff, 4 + the base64 patch answer), loaded by
// autocannon from load processes (load.ts), with the server's own CPU time per request. All
// five servers run at once and are loaded in turn, round after round, and each stage reports
// its lowest round: this machine drifts by 20% within a minute, so stages measured one after
// the other would compare the weather, not the stages.
// Even so, two processes running the same code differ here by up to about 15 µs per request
// (JIT and GC decisions differ by run), so read only larger steps between stages.
// Not part of `npm run bench`: run it when working on the webhook's throughput,
// `npx tsx bench/webhook-stages.ts`.
import { fileURLToPath } from "node:url";
import { closedLoop, startRole } from "./lib.ts";
import { benchReview } from "./webhook.ts";

const ROLE_ENV = "PODID_WEBHOOK_STAGE";

async function serveStage(stage: number): Promise<void> {
  const { default: Fastify } = await import("fastify");
  const { memoryState } = await import("../src/webhook/state.ts");
  const { parseAdmissionKeys, decidePod, podSelector, signAdmissionMark, claimsFor } =
    await import("../src/policy/index.ts");
  const { createCertificateAuthority } = await import("../src/shared/pki.ts");
  const { parseAzureIdentity, parseAzureIdentityBinding } = await import("../src/model/parse.ts");
  const { decodeReview } = await import("../src/webhook/review.ts");
  const { readPodView, podInput } = await import("../src/webhook/pod.ts");
  const { podPatch } = await import("../src/webhook/mutate.ts");
  const { patched } = await import("../src/webhook/responses.ts");
  type Identity = Extract<ReturnType<typeof parseAzureIdentity>, { ok: true }>["value"];
  type Binding = Extract<ReturnType<typeof parseAzureIdentityBinding>, { ok: true }>["value"];
  const identities: Identity[] = [];
  const bindings: Binding[] = [];
  for (let i = 0; i < 1000; i++) {
    const ns = `team-${i}`;
    const id = parseAzureIdentity({
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentity",
      metadata: { name: `identity-${i}`, namespace: ns },
      spec: {
        type: 0,
        ResourceID: `/subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${i}`,
        ClientID: "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d",
      },
    });
    const b = parseAzureIdentityBinding({
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentityBinding",
      metadata: { name: `binding-${i}`, namespace: ns },
      spec: { AzureIdentity: `identity-${i}`, Selector: `selector-${i}` },
    });
    if (!id.ok || !b.ok) throw new Error("bench fixtures do not parse");
    identities.push(id.value);
    bindings.push(b.value);
  }
  const keys = parseAdmissionKeys("bench-admission-key-0123456789abcdef0123\n");
  const state = memoryState({ identities, bindings });
  const leaf = createCertificateAuthority().issue({ commonName: "bench", ipAddresses: ["127.0.0.1"] });
  const app = Fastify({ https: { cert: leaf.certPem, key: leaf.keyPem } });
  app.post("/s", (req, reply) => {
    const d = decodeReview(req.body);
    if (!d.ok) throw new Error(d.message);
    const r = d.request;
    const ns = r.namespace ?? "";
    let response: unknown = { uid: r.uid, allowed: true };
    if (stage >= 1) {
      const v = readPodView(r.object);
      if (!v.ok) throw new Error("bench pod does not read");
      const sel = podSelector(v.value.labels) ?? "";
      const dec = decidePod(podInput(state, ns, v.value, sel));
      if (stage >= 2) {
        const mark = signAdmissionMark(keys, claimsFor(ns, v.value.serviceAccountName, sel, dec.identities));
        if (stage >= 3) {
          const ops = podPatch(r.object as Record<string, unknown>, {
            nmiMode: "daemonset",
            sidecarImage: "x",
            mark,
            clientID: dec.identities[0]?.clientID,
          });
          if (stage >= 4) response = patched(r.uid, ops);
        }
      }
    }
    void reply.send({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response });
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  process.stdout.write(`READY https://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : 0}\n`);
}

async function main(): Promise<void> {
  const body = JSON.stringify(benchReview());
  const names = [
    "fixed answer",
    "+ pod read and decision",
    "+ HMAC mark",
    "+ patch (view, remembered)",
    "+ base64 patch answer",
  ];
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // autocannon against the throwaway certificate
  const servers = await Promise.all(
    names.map((_, stage) => startRole(fileURLToPath(import.meta.url), ROLE_ENV, String(stage))),
  );
  const best = names.map(() => ({ rps: 0, cpuUs: Infinity }));
  try {
    for (let round = 0; round < 3; round++)
      for (const [stage, { url, child }] of servers.entries()) {
        const r = await closedLoop(
          { url: `${url}/s`, method: "POST", headers: { "content-type": "application/json" }, body, duration: 3 },
          child.pid,
        );
        best[stage] = { rps: Math.max(best[stage]!.rps, r.rps), cpuUs: Math.min(best[stage]!.cpuUs, r.cpuUs) };
      }
    for (const [stage, name] of names.entries())
      console.log(
        `stage ${stage} ${name.padEnd(26)} ${Math.round(best[stage]!.rps)} req/s, ${best[stage]!.cpuUs.toFixed(1)} µs server CPU per request`,
      );
  } finally {
    for (const s of servers) s.child.kill();
  }
}

const role = process.env[ROLE_ENV];
if (role !== undefined) await serveStage(Number(role));
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
