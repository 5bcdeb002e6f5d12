// Federated assignments as pods meet them, with the real, unmodified Azure SDK: the app asks the
// NMI over IMDS (DaemonSet mode by its address, sidecar mode through its sidecar) with
// ManagedIdentityCredential; the NMI exchanges its own projected service-account token (issued
// by the playground API server, audience api://AzureADTokenExchange) at the Entra stand-in,
// which checks it against the API server's discovery document and JWKS. No IMDS call is made
// for a federated identity (demo-reader is on no VM: IMDS could not serve it anyway).
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { DEFAULTS, FEDERATION, GROUP, KINDS, NMI_TLS, VERSION } from "../../../src/model/constants.ts";
import { kubeRequest, resourcePath } from "../../../src/kube/request.ts";
import { FEDERATION_FAILED_REASON, runNmi, type NmiOptions, type RunningNmi } from "../../../src/nmi/main.ts";
import { identityId, idKey } from "../../../src/playground/azure/index.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import { eventually } from "../../helpers/eventually.ts";
import {
  assign,
  create,
  createBinding,
  createPod,
  createTenant,
  installCrds,
  podToken,
  sidecarNmiOptions,
  type RunningPod,
} from "./cluster-fixture.ts";
import { TEST_KEYS, writeKeyFile } from "./keys.ts";

const preload = fileURLToPath(new URL("../../../src/playground/podnet/preload.ts", import.meta.url));
const nmiCa = createCertificateAuthority("podid NMI CA (test)");
const NMI_NAME = NMI_TLS.serverName("podid-system");
const NODE = "aks-nodepool1-12345678-vmss000000";
const PODID_NS = "podid-system";

function runPod(code: string, env: Record<string, string>): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "--import", preload, "--input-type=module", "-e", code],
      { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ out: stdout, err: stderr, code: err === null ? 0 : typeof err.code === "number" ? err.code : 1 }),
    );
  });
}

const READ_BLOB = `
  import { ManagedIdentityCredential } from "@azure/identity";
  import { BlobServiceClient } from "@azure/storage-blob";
  const cred = new ManagedIdentityCredential({ clientId: process.env.AZURE_CLIENT_ID });
  const blob = new BlobServiceClient(process.env.BLOB_URL, cred).getContainerClient("podid-fed").getBlobClient("hello.txt");
  console.log(JSON.stringify({ text: (await blob.downloadToBuffer()).toString() }));`;

const lastLine = (s: string): unknown => JSON.parse(s.trim().split("\n").pop()!);

/** As the reconciler marks a federated assignment ready: status through its subresource. */
async function markFederated(cluster: TestCluster, pod: RunningPod, identityName: string, target: string) {
  await kubeRequest(cluster.kc, {
    method: "PATCH",
    path: `${resourcePath({ group: GROUP, version: VERSION, plural: KINDS.AzureAssignedIdentity.plural, namespace: pod.namespace, name: `${pod.name}-${identityName}` })}/status`,
    contentType: "application/merge-patch+json",
    body: { status: { status: "Assigned", tokenSource: "Federated", target } },
  });
}

/** A service-account token as the kubelet projects it into the NMI's pod. */
async function saToken(cluster: TestCluster, sa: string, audience: string): Promise<string> {
  const r = await kubeRequest<{ status: { token: string } }>(cluster.kc, {
    method: "POST",
    path: `${resourcePath({ group: "", version: "v1", plural: "serviceaccounts", namespace: PODID_NS, name: sa })}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { audiences: [audience] } },
  });
  return r.status.token;
}

describe("nmi: federated assignments through the real Azure SDK", function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let azure: AzureFixture;
  let nmi: RunningNmi;
  let dir: string;
  let caFile: string;
  let tokenFile: string;
  let reader: { name: string; clientID: string; resourceID: string };
  let writer: { name: string; clientID: string; resourceID: string };
  let app: RunningPod;

  const setCredential = (identity: { resourceID: string }, over: Partial<{ subject: string; issuer: string }> = {}) =>
    azure.pg.federatedCredentialStore.set(
      idKey(identity.resourceID),
      new Map([
        [
          FEDERATION.credentialName,
          {
            id: `${identity.resourceID}/federatedIdentityCredentials/${FEDERATION.credentialName}`,
            name: FEDERATION.credentialName,
            issuer: over.issuer ?? cluster.api.url,
            subject: over.subject ?? FEDERATION.subject(PODID_NS),
            audiences: [FEDERATION.audience],
          },
        ],
      ]),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podid-nmi-fed-"));
    [cluster, azure] = await Promise.all([startTestCluster(), startTestAzure({ azurite: true })]);
    azure.pg.trustIssuerCa(cluster.api.caPem);
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, azure.pg.caPem);
    const id = (name: string) => {
      const i = azure.cloud.identities.find((x) => x.name === name)!;
      return { name, clientID: i.clientId, resourceID: identityId(azure.cloud.subscriptionId, i.resourceGroup, name) };
    };
    reader = id("demo-reader");
    writer = id("demo-writer");
    await installCrds(cluster.kc);
    await create(cluster.kc, "namespaces", "", "v1", undefined, { metadata: { name: PODID_NS } });
    for (const sa of ["podid-nmi", "other"])
      await create(cluster.kc, "serviceaccounts", "", "v1", PODID_NS, { metadata: { name: sa } });
    await createTenant(cluster.kc, "team-f", reader, "reader");
    await createBinding(cluster.kc, "team-f", writer, "writer");
    app = await createPod(cluster.kc, {
      name: "app",
      namespace: "team-f",
      nodeName: NODE,
      selector: "reader",
      keys: TEST_KEYS,
      identities: [reader],
    });
    await assign(cluster.kc, app, reader, "reader", true);
    await markFederated(cluster, app, reader.name, `${reader.resourceID}/federatedIdentityCredentials/podid-nmi`);
    setCredential(reader);
    const az = azure.pg.azurite!;
    const tls = { tlsOptions: { ca: azure.pg.caPem }, retryOptions: { maxTries: 1 } } as StoragePipelineOptions;
    const container = new BlobServiceClient(
      az.blobUrl,
      new StorageSharedKeyCredential(az.accountName, az.accountKey),
      tls,
    ).getContainerClient("podid-fed");
    await container.createIfNotExists();
    await container.getBlockBlobClient("hello.txt").upload("federated hello", 15);

    // The kubelet's first projection is of the wrong service account, to see a rotation picked up.
    tokenFile = join(dir, "federation-token");
    writeFileSync(tokenFile, await saToken(cluster, "other", FEDERATION.audience));
    const opts: NmiOptions = {
      mode: "daemonset",
      nodeName: NODE,
      host: cluster.api.nodeIps.get(NODE)!,
      port: 0,
      imdsEndpoint: azure.pg.imdsUrl(NODE),
      admissionKeyFile: writeKeyFile(dir),
      kubeconfig: cluster.kubeconfigPath,
      authorityHost: azure.pg.authorityHost,
      authorityCaFile: caFile,
      tenantId: azure.pg.tenantId,
      federationTokenFile: tokenFile,
      proxyPaths: [],
      assignmentWaitSeconds: 2,
      iptablesRedirect: false,
      podInterfaces: [],
      metadataAddress: "169.254.169.254",
      tlsCertFile: join(dir, "nmi.crt"),
      tlsKeyFile: join(dir, "nmi.key"),
      sidecarPort: 0,
      tokenFile: "",
      logger: silentLogger(),
    };
    const serving = nmiCa.issue({ commonName: NMI_NAME, dnsNames: [NMI_NAME], ipAddresses: [] });
    writeFileSync(opts.tlsCertFile!, serving.certPem);
    writeFileSync(opts.tlsKeyFile!, serving.keyPem);
    nmi = await runNmi(opts);
  });

  after(async () => {
    await nmi?.close();
    await Promise.allSettled([cluster?.stop(), azure?.pg.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const podEnv = (pod: RunningPod, url: string, clientId: string): Record<string, string> => ({
    PODID_POD_IP: pod.podIP,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: url,
    AZURE_CLIENT_ID: clientId,
    BLOB_URL: azure.pg.azurite!.blobUrl,
    NODE_EXTRA_CA_CERTS: caFile,
  });

  it("a token of the wrong service account is refused; the app sees AADSTS700213 and what to change", async () => {
    const r = await runPod(READ_BLOB, podEnv(app, nmi.url, reader.clientID));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /AADSTS700213/);
    assert.match(r.err, /subject 'system:serviceaccount:podid-system:other'/);
    assert.doesNotMatch(r.err, /eyJ[\w-]{20,}\./, "no token in the message");
  });

  it("the refusal is an Event on the AzureIdentity with the AADSTS code (for podid doctor), without a token", async () => {
    const events = await eventually(async () => {
      const list = await kubeRequest<{
        items: { reason: string; message: string; involvedObject: { kind: string; name: string } }[];
      }>(cluster.kc, { path: resourcePath({ group: "", version: "v1", plural: "events", namespace: "team-f" }) });
      const mine = list.items.filter((e) => e.reason === FEDERATION_FAILED_REASON);
      return mine.length > 0 ? mine : undefined;
    }, "a FederatedTokenExchangeFailed event");
    assert.equal(events[0]!.involvedObject.kind, "AzureIdentity");
    assert.equal(events[0]!.involvedObject.name, reader.name);
    assert.match(events[0]!.message, /AADSTS700213/);
    assert.doesNotMatch(events[0]!.message, /eyJ[\w-]{20,}\./);
  });

  it("the kubelet rotates the file to podid-nmi's token: the next request is served via Entra, with no IMDS call", async () => {
    writeFileSync(tokenFile, await saToken(cluster, "podid-nmi", FEDERATION.audience));
    azure.pg.calls.reset();
    const r = await runPod(READ_BLOB, podEnv(app, nmi.url, reader.clientID));
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(lastLine(r.out), { text: "federated hello" });
    assert.equal(azure.pg.calls.count({ service: "imds" }), 0, "no IMDS call for a federated identity");
    assert.ok(
      azure.pg.calls.count({ service: "entra", operation: "token", target: reader.clientID, status: 200 }) >= 1,
    );
    assert.ok(azure.pg.issuerFetches().every((u) => u.startsWith(cluster.api.url)));
  });

  it("an identity without a federated credential is refused with AADSTS70021", async () => {
    const pod = await createPod(cluster.kc, {
      name: "writer",
      namespace: "team-f",
      nodeName: NODE,
      selector: "writer",
      keys: TEST_KEYS,
      identities: [writer],
    });
    await assign(cluster.kc, pod, writer, "writer", true);
    await markFederated(cluster, pod, writer.name, `${writer.resourceID}/federatedIdentityCredentials/podid-nmi`);
    azure.pg.federatedCredentialStore.delete(idKey(writer.resourceID));
    const r = await runPod(READ_BLOB, podEnv(pod, nmi.url, writer.clientID));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /AADSTS70021/);
    assert.match(r.err, /no federated identity credential of identity/);
  });

  it("a credential naming another issuer is refused with AADSTS700211", async () => {
    setCredential(writer, { issuer: "https://127.0.0.1:1" });
    const pod: RunningPod = { ...(await podOf(cluster, "team-f", "writer")), nodeName: NODE };
    const r = await runPod(READ_BLOB, podEnv(pod, nmi.url, writer.clientID));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /AADSTS700211/);
  });

  it("sidecar mode: the sidecar forwards to the node NMI, which serves the federated assignment via Entra", async () => {
    const side = await createPod(cluster.kc, {
      name: "side",
      namespace: "team-f",
      nodeName: NODE,
      selector: "reader",
      keys: TEST_KEYS,
      identities: [reader],
      sidecar: true,
    });
    await assign(cluster.kc, side, reader, "reader", true);
    await markFederated(cluster, side, reader.name, `${reader.resourceID}/federatedIdentityCredentials/podid-nmi`);
    const sideToken = join(dir, "side-token");
    writeFileSync(sideToken, await podToken(cluster.kc, side, DEFAULTS.sidecarTokenAudience));
    const sidecar = await runNmi(
      sidecarNmiOptions({
        host: side.podIP,
        nmiEndpoint: nmi.sidecarUrl!,
        caPem: nmiCa.certPem,
        serverName: NMI_NAME,
        tokenFile: sideToken,
        logger: silentLogger(),
      }),
    );
    try {
      azure.pg.calls.reset();
      const r = await runPod(READ_BLOB, podEnv(side, sidecar.url, reader.clientID));
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(lastLine(r.out), { text: "federated hello" });
      assert.equal(azure.pg.calls.count({ service: "imds" }), 0);
    } finally {
      await sidecar.close();
    }
  });
});

async function podOf(cluster: TestCluster, namespace: string, name: string): Promise<Omit<RunningPod, "nodeName">> {
  const o = await kubeRequest<{ metadata: { uid: string }; status: { podIP: string } }>(cluster.kc, {
    path: resourcePath({ group: "", version: "v1", plural: "pods", namespace, name }),
  });
  return { name, namespace, uid: o.metadata.uid, podIP: o.status.podIP };
}
