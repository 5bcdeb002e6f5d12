// Sidecar mode: an init container runs before the pod's sidecar NMI exists, so `podid wait
// --sidecar` runs the same forwarder in its own process, from the same environment and token
// file the webhook gives the sidecar container (the wait container is a copy of it), on a free
// loopback port, and asks through it.
import { DEFAULTS, SIDECAR } from "../model/constants.ts";

export async function startSidecarForWait(): Promise<{ url: string; close(): Promise<void> }> {
  const { runNmi } = await import("../nmi/main.ts");
  const { silentLogger } = await import("../shared/log.ts");
  return runNmi({
    mode: "sidecar",
    host: "127.0.0.1",
    port: 0,
    imdsEndpoint: DEFAULTS.imdsEndpoint,
    authorityHost: "https://login.microsoftonline.com",
    proxyPaths: [],
    assignmentWaitSeconds: 0,
    iptablesRedirect: false,
    podInterfaces: [],
    metadataAddress: "169.254.169.254",
    tokenFile: `${SIDECAR.tokenMountPath}/${SIDECAR.tokenFileName}`,
    logger: silentLogger(),
  });
}
