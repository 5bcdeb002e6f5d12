// `podid webhook`: flags (with env equivalents) only; everything else is in main.ts, loaded
// when the command runs (see cli.ts: a program loads only its own modules).
import { setFlagsFromString } from "node:v8";
import { Command, Option } from "commander";
import { DEFAULTS, SYSTEM_NAMESPACE, WEBHOOK } from "../model/constants.ts";

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be an integer 0-65535, got '${v}'`);
  return n;
};

/**
 * V8's allocation-site pretenuring allocates objects from "sites whose objects usually survive"
 * straight into the old generation. Under sustained admission load it regularly (most
 * benchmark runs, some shorter ones) picks sites that the request path shares with
 * long-lived objects; from then on every review's short-lived garbage lands in old space:
 * scavenges of 6-9 ms instead of under 1 ms, and the old space filling every few seconds
 * (mark-compacts of 10-20 ms), which is the webhook's p99. With the heuristic off that mode
 * was never seen (bench/lib.ts: PODID_BENCH_NODE_FLAGS="--trace-gc"). A setting of the whole
 * process, so it is made here, where the process becomes the webhook, before the caches and
 * the server allocate anything; a GC heuristic, safe to change at run time.
 */
function tuneGarbageCollector(): void {
  setFlagsFromString("--no-allocation-site-pretenuring");
}

export function webhookCommand(): Command {
  return new Command("webhook")
    .description(
      "Admission webhook: admit labelled pods only with a binding of their own namespace, write the admission mark, validate podid's objects and workloads",
    )
    .addOption(
      new Option("--kubeconfig <file>", "kubeconfig (default: in-cluster, then $KUBECONFIG)").env("PODID_KUBECONFIG"),
    )
    .addOption(new Option("--host <address>", "address to listen on").env("PODID_WEBHOOK_HOST").default("0.0.0.0"))
    .addOption(
      new Option("--port <port>", "port to listen on")
        .env("PODID_WEBHOOK_PORT")
        .argParser(port)
        .default(DEFAULTS.webhookPort),
    )
    .addOption(
      new Option("--tls-cert-file <file>", "serving certificate (PEM); reloaded when it changes").env(
        "PODID_TLS_CERT_FILE",
      ),
    )
    .addOption(
      new Option("--tls-key-file <file>", "serving key (PEM); reloaded when it changes").env("PODID_TLS_KEY_FILE"),
    )
    .addOption(
      new Option(
        "--admission-key-file <file>",
        "admission-mark keys shared with the NMI, one per line, the first signs (reloaded when it changes)",
      )
        .env("PODID_ADMISSION_KEY_FILE")
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--self-signed",
        "create a CA and serving certificate (kept in a Secret) and patch the webhook configurations' caBundle",
      )
        .env("PODID_SELF_SIGNED")
        .default(false),
    )
    .addOption(
      new Option("--namespace <ns>", "podid's namespace (for --self-signed, and the node NMI's certificate name)")
        .env("POD_NAMESPACE")
        .default(SYSTEM_NAMESPACE),
    )
    .addOption(
      new Option("--service-name <name>", "the webhook's Service (for --self-signed)").default(WEBHOOK.serviceName),
    )
    .addOption(
      new Option("--sidecar-image <image>", "image of the NMI sidecar injected in sidecar mode")
        .env("PODID_SIDECAR_IMAGE")
        .default(WEBHOOK.sidecarImage),
    )
    .addOption(
      new Option(
        "--nmi-ca-file <file>",
        "CA (PEM) of the node NMI's sidecar certificate, given to injected sidecars; reloaded when it changes",
      ).env("PODID_NMI_CA_FILE"),
    )
    .action(async (o: Record<string, unknown>) => {
      tuneGarbageCollector();
      const { runWebhook } = await import("./main.ts");
      const hook = await runWebhook({
        kubeconfig: o.kubeconfig as string | undefined,
        host: o.host as string,
        port: o.port as number,
        tlsCertFile: o.tlsCertFile as string | undefined,
        tlsKeyFile: o.tlsKeyFile as string | undefined,
        admissionKeyFile: o.admissionKeyFile as string,
        selfSigned: o.selfSigned === true || o.selfSigned === "true",
        namespace: o.namespace as string,
        serviceName: o.serviceName as string,
        sidecarImage: o.sidecarImage as string,
        nmiCaFile: o.nmiCaFile as string | undefined,
      });
      const stop = (): void => {
        hook.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
