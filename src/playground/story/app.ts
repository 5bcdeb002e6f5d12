// "Application X" of the seed: reads a blob with ManagedIdentityCredential and nothing else,
// no secret, no configuration but the storage URL. The playground runs it as the process of
// a pod's container, with the environment the webhook injected and the pod's network address.
import { ManagedIdentityCredential } from "@azure/identity";
import { BlobServiceClient } from "@azure/storage-blob";

const accountUrl = process.env.STORAGE_ACCOUNT_URL;
const container = process.env.BLOB_CONTAINER;
const blob = process.env.BLOB_NAME;
if (accountUrl === undefined || container === undefined || blob === undefined) {
  process.stderr.write("app: STORAGE_ACCOUNT_URL, BLOB_CONTAINER and BLOB_NAME must be set\n");
  process.exit(2);
}

try {
  // Exactly as in the seed: no client ID, no endpoint; podid's NMI answers for the pod.
  const credential = new ManagedIdentityCredential();
  const client = new BlobServiceClient(accountUrl, credential);
  const body = await client.getContainerClient(container).getBlobClient(blob).downloadToBuffer();
  process.stdout.write(body.toString("utf8"));
} catch (err) {
  process.stderr.write(`app: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
