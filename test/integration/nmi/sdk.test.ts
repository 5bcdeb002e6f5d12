// The NMI as pods meet it, with the real, unmodified Azure SDK: a "pod" is a child process
// whose loopback connections leave from its pod IP (playground podnet preload), and which
// knows only what the webhook injects (AZURE_POD_IDENTITY_AUTHORITY_HOST, AZURE_CLIENT_ID).
// It gets a token from the NMI (DaemonSet mode: by its source address; sidecar mode: through
// its sidecar, by its service-account token) and reads a blob from Azurite with it.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { DEFAULTS, NMI_TLS } from "../../../src/model/constants.ts";
import { runNmi, type NmiOptions, type RunningNmi } from "../../../src/nmi/main.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { createCertificateAuthority } from "../../../src/shared/pki.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import {
  assign,
  markAssigned,
  createExceptedPod,
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

/** Runs `code` as a pod process: pod IP, injected env, the playground CA trusted (as the image would). */
function runPod(
  code: string,
  env: Record<string, string>,
  onStdout?: (chunk: string) => void,
): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "--import", preload, "--input-type=module", "-e", code],
      { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ out: stdout, err: stderr, code: err === null ? 0 : typeof err.code === "number" ? err.code : 1 }),
    );
    if (onStdout !== undefined) child.stdout?.on("data", (d: Buffer) => onStdout(d.toString()));
  });
}

const READ_BLOB = (credential: string) => `
  import { ${credential} } from "@azure/identity";
  import { BlobServiceClient } from "@azure/storage-blob";
  console.log("asking");
  const cred = new ${credential}(${credential === "ManagedIdentityCredential" ? "{ clientId: process.env.AZURE_CLIENT_ID }" : ""});
  const blob = new BlobServiceClient(process.env.BLOB_URL, cred).getContainerClient("podid-nmi").getBlobClient("hello.txt");
  console.log(JSON.stringify({ text: (await blob.downloadToBuffer()).toString() }));`;

describe("nmi with the real Azure SDK, as pods would ask", function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let azure: AzureFixture;
  let nmi: RunningNmi;
  let dir: string;
  let caFile: string;
  let app: RunningPod;
  let other: RunningPod;
  const identity = { name: "reader", clientID: "", resourceID: "" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podid-nmi-sdk-"));
    [cluster, azure] = await Promise.all([startTestCluster(), startTestAzure({ azurite: true })]);
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, azure.pg.caPem);
    // The kubelet identity is on every node's VM, so the node's IMDS stand-in serves it.
    const kubelet = azure.cloud.identities[0]!;
    identity.clientID = kubelet.clientId;
    identity.resourceID = `/subscriptions/${azure.cloud.subscriptionId}/resourceGroups/${kubelet.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${kubelet.name}`;
    await installCrds(cluster.kc);
    await createTenant(cluster.kc, "team-a", identity, "reader");
    const ids = [{ name: identity.name, clientID: identity.clientID, resourceID: identity.resourceID }];
    app = await createPod(cluster.kc, {
      name: "app",
      namespace: "team-a",
      nodeName: NODE,
      selector: "reader",
      keys: TEST_KEYS,
      identities: ids,
    });
    other = await createPod(cluster.kc, {
      name: "unbound",
      namespace: "team-a",
      nodeName: NODE,
      selector: "nothing",
      keys: TEST_KEYS,
      identities: [],
    });
    await assign(cluster.kc, app, identity, "reader");
    // A blob to read, written with the account key.
    const az = azure.pg.azurite!;
    const tls = { tlsOptions: { ca: azure.pg.caPem }, retryOptions: { maxTries: 1 } } as StoragePipelineOptions;
    const container = new BlobServiceClient(
      az.blobUrl,
      new StorageSharedKeyCredential(az.accountName, az.accountKey),
      tls,
    ).getContainerClient("podid-nmi");
    await container.createIfNotExists();
    await container.getBlockBlobClient("hello.txt").upload("hello from a pod", 16);

    const opts: NmiOptions = {
      mode: "daemonset",
      nodeName: NODE,
      host: cluster.api.nodeIps.get(NODE)!,
      port: 0,
      imdsEndpoint: azure.pg.imdsUrl(NODE),
      admissionKeyFile: writeKeyFile(dir),
      kubeconfig: cluster.kubeconfigPath,
      authorityHost: azure.pg.authorityHost,
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
    // The node NMI's sidecar certificate, as cert-manager would issue it.
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

  const podEnv = (pod: RunningPod, authority: string): Record<string, string> => ({
    PODID_POD_IP: pod.podIP,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: authority,
    AZURE_CLIENT_ID: identity.clientID,
    BLOB_URL: azure.pg.azurite!.blobUrl,
    NODE_EXTRA_CA_CERTS: caFile,
  });

  for (const credential of ["ManagedIdentityCredential", "DefaultAzureCredential"]) {
    it(`DaemonSet mode: ${credential} gets the pod's token from its pod IP and reads the blob`, async () => {
      const r = await runPod(READ_BLOB(credential), podEnv(app, nmi.url));
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out.trim().split("\n").pop()!), { text: "hello from a pod" });
    });
  }

  it("DaemonSet mode: a pod with no identity bound is refused with the NMI's reason", async () => {
    const r = await runPod(READ_BLOB("ManagedIdentityCredential"), podEnv(other, nmi.url));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no AzureIdentity is bound|Identity not found/);
  });

  it("DaemonSet mode: an excepted pod is answered by the node's IMDS, as the node would answer", async () => {
    const legacy = await createExceptedPod(cluster.kc, "team-a", "legacy", NODE);
    const r = await runPod(READ_BLOB("ManagedIdentityCredential"), podEnv(legacy, nmi.url));
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out.trim().split("\n").pop()!), { text: "hello from a pod" });
  });

  it("DaemonSet mode: a pod whose identity is still being assigned waits and then gets its token", async () => {
    const late = await createPod(cluster.kc, {
      name: "late",
      namespace: "team-a",
      nodeName: NODE,
      selector: "reader",
      keys: TEST_KEYS,
      identities: [{ name: identity.name, clientID: identity.clientID, resourceID: identity.resourceID }],
    });
    await assign(cluster.kc, late, identity, "reader", true);
    let asked!: () => void;
    const asking = new Promise<void>((r) => (asked = r));
    const pending = runPod(
      READ_BLOB("ManagedIdentityCredential"),
      podEnv(late, nmi.url),
      (chunk) => chunk.includes("asking") && asked(),
    );
    // Assign only once the pod is asking, so its request is the one that waits.
    await asking;
    await new Promise((r) => setTimeout(r, 300));
    await markAssigned(cluster.kc, late, identity.name);
    const r = await pending;
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out.trim().split("\n").pop()!), { text: "hello from a pod" });
  });

  it("sidecar mode: the pod asks its sidecar, which presents the pod's token over TLS; no IP is trusted", async () => {
    const side = await createPod(cluster.kc, {
      name: "side",
      namespace: "team-a",
      nodeName: NODE,
      selector: "reader",
      keys: TEST_KEYS,
      identities: [{ name: identity.name, clientID: identity.clientID, resourceID: identity.resourceID }],
      sidecar: true,
    });
    await assign(cluster.kc, side, identity, "reader");
    const tokenFile = join(dir, "side-token");
    writeFileSync(tokenFile, await podToken(cluster.kc, side, DEFAULTS.sidecarTokenAudience));
    const sidecar = await runNmi(
      sidecarNmiOptions({
        host: side.podIP,
        nmiEndpoint: nmi.sidecarUrl!,
        caPem: nmiCa.certPem,
        serverName: NMI_NAME,
        tokenFile,
        logger: silentLogger(),
      }),
    );
    try {
      const viaSidecar = await runPod(READ_BLOB("DefaultAzureCredential"), podEnv(side, sidecar.url));
      assert.equal(viaSidecar.code, 0, viaSidecar.err);
      assert.deepEqual(JSON.parse(viaSidecar.out.trim().split("\n").pop()!), { text: "hello from a pod" });
      // The same pod asking the node NMI directly by its address is refused: sidecar pods are
      // identified by token only.
      const direct = await runPod(READ_BLOB("ManagedIdentityCredential"), podEnv(side, nmi.url));
      assert.notEqual(direct.code, 0);
      assert.match(direct.err, /sidecar mode/);
    } finally {
      await sidecar.close();
    }
  });
});
