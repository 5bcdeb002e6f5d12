// `podid nmi`: flags only; everything else is in main.ts, loaded when the command runs (see
// cli.ts: a program loads only its own modules).
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { DEFAULTS, FEDERATION, SIDECAR, SIDECAR_PORT } from "../model/constants.ts";

const int =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be an integer 0-65535, got '${v}'`);
    return n;
  };
const collect = (v: string, acc: string[]): string[] => [...acc, v];
const collectUid = (v: string, acc: number[]): number[] => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 4_294_967_294)
    throw new Error(`--host-metadata-uid must be a uid (0-4294967294), got '${v}'`);
  return [...acc, n];
};

export function nmiCommand(): Command {
  return new Command("nmi")
    .description(
      "Serve pods' identity tokens on the IMDS contract, only to admitted pods (DaemonSet on every node, or a per-pod sidecar)",
    )
    .addOption(
      new Option("--mode <mode>", "daemonset: node server; sidecar: per-pod forwarder")
        .choices(["daemonset", "sidecar"])
        .default("daemonset"),
    )
    .option("--node-name <name>", "this node's name (default $NODE_NAME)")
    .option("--host <address>", "address to listen on", "0.0.0.0")
    .option("--port <port>", `port to listen on (default ${DEFAULTS.nmiPort}; sidecar ${SIDECAR_PORT})`, int("--port"))
    .option("--imds-endpoint <url>", "the node's instance metadata service", DEFAULTS.imdsEndpoint)
    .option("--admission-key-file <file>", "admission-mark keys shared with the webhook, one per line, current first")
    .option("--kubeconfig <file>", "kubeconfig (default: in-cluster, then $KUBECONFIG)")
    .option(
      "--authority-host <url>",
      "Entra ID authority for service-principal identities",
      "https://login.microsoftonline.com",
    )
    .option("--authority-ca-file <file>", "extra CA (PEM) to trust for --authority-host")
    .option(
      "--tenant-id <id>",
      "daemonset: the Entra tenant of federated identities (required once an assignment's tokenSource is Federated)",
    )
    .option(
      "--federation-token-file <file>",
      `daemonset: the NMI's projected service-account token (audience ${FEDERATION.audience}) it exchanges at Entra`,
      `${FEDERATION.tokenMountPath}/${FEDERATION.tokenFileName}`,
    )
    .option(
      "--proxy-path <path>",
      "also pass this IMDS path (e.g. /metadata/instance) to the node's IMDS for pods of this node; repeatable",
      collect,
      [],
    )
    .option(
      "--assignment-wait <seconds>",
      "how long a request waits for an identity still being assigned before a 503",
      int("--assignment-wait"),
      20,
    )
    .option("--iptables-redirect", "own the iptables chain redirecting pods' 169.254.169.254:80 to this NMI", false)
    .option("--node-ip <address>", "this node's address the redirect points at (default: --host)")
    .option(
      "--pod-interface <pattern>",
      "iptables interface pattern pod traffic arrives on (e.g. veth+); repeatable",
      collect,
      [],
    )
    .option("--metadata-address <ip>", "the metadata address pods call", "169.254.169.254")
    .option(
      "--host-metadata-uid <uid>",
      "with --iptables-redirect: only this uid on the node itself (hostNetwork pods included) may reach the metadata address; repeatable",
      collectUid,
      [],
    )
    .option(
      "--remove-iptables-rules",
      "remove podid's iptables chains from this node and exit (uninstall: pods reach the node's IMDS again)",
      false,
    )
    .option("--tls-cert-file <file>", "daemonset: certificate of the TLS port sidecars use (reloaded on change)")
    .option("--tls-key-file <file>", "daemonset: its private key")
    .option(
      "--sidecar-port <port>",
      `daemonset: the TLS port for sidecars (default ${DEFAULTS.nmiSidecarPort})`,
      int("--sidecar-port"),
    )
    .option("--nmi-endpoint <url>", `sidecar: the node NMI's https URL (default $${SIDECAR.nodeEndpointEnv})`)
    .option(
      "--nmi-ca-file <file>",
      `sidecar: CA (PEM) of the node NMI's certificate (default: $${SIDECAR.caEnv}, the PEM itself)`,
    )
    .option(
      "--nmi-server-name <name>",
      `sidecar: the name on the node NMI's certificate (default $${SIDECAR.serverNameEnv})`,
    )
    .option(
      "--token-file <file>",
      "sidecar: the pod's projected service-account token",
      `${SIDECAR.tokenMountPath}/${SIDECAR.tokenFileName}`,
    )
    .option(
      "--metrics-port <port>",
      "sidecar: also serve /metrics on this port of the pod's addresses, for Prometheus (default: loopback only)",
      int("--metrics-port"),
    )
    .action(async (o: Record<string, unknown>) => {
      const mode = o.mode as "daemonset" | "sidecar";
      const { runNmi, removeIptablesRules } = await import("./main.ts");
      if (o.removeIptablesRules === true) {
        await removeIptablesRules();
        return;
      }
      const nmi = await runNmi({
        mode,
        nodeName: o.nodeName as string | undefined,
        host: mode === "sidecar" && o.host === "0.0.0.0" ? "127.0.0.1" : (o.host as string),
        port: o.port as number | undefined,
        imdsEndpoint: o.imdsEndpoint as string,
        admissionKeyFile: o.admissionKeyFile as string | undefined,
        kubeconfig: o.kubeconfig as string | undefined,
        authorityHost: o.authorityHost as string,
        authorityCaFile: o.authorityCaFile as string | undefined,
        tenantId: o.tenantId as string | undefined,
        federationTokenFile: o.federationTokenFile as string,
        proxyPaths: o.proxyPath as string[],
        assignmentWaitSeconds: o.assignmentWait as number,
        iptablesRedirect: o.iptablesRedirect === true,
        nodeIp: o.nodeIp as string | undefined,
        podInterfaces: o.podInterface as string[],
        metadataAddress: o.metadataAddress as string,
        hostMetadataUids: o.hostMetadataUid as number[],
        tlsCertFile: o.tlsCertFile as string | undefined,
        tlsKeyFile: o.tlsKeyFile as string | undefined,
        sidecarPort: o.sidecarPort as number | undefined,
        nmiEndpoint: o.nmiEndpoint as string | undefined,
        nmiCaPem: typeof o.nmiCaFile === "string" ? readFileSync(o.nmiCaFile, "utf8") : undefined,
        nmiServerName: o.nmiServerName as string | undefined,
        tokenFile: o.tokenFile as string,
        metricsPort: o.metricsPort as number | undefined,
      });
      const stop = (): void => {
        nmi.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
