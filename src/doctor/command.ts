// `podid doctor <namespace>/<pod>`: explains why a pod does or does not get a token.
import { Command } from "commander";

export function parsePodRef(ref: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(ref);
  if (m === null) throw new Error(`expected <namespace>/<pod>, e.g. team-a/myapp-7d9c5-x2x4q; got "${ref}"`);
  return { namespace: m[1]!, name: m[3]! };
}

export function doctorCommand(): Command {
  return new Command("doctor")
    .description("explain, in plain words, why a pod does or does not get a token")
    .argument("<namespace/pod>", "the pod to examine")
    .option("--kubeconfig <file>", "kubeconfig (default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
    .option("--admission-key-file <file>", "admission keys shared by the webhook and the NMI, to verify the pod's mark")
    .option("-o, --output <format>", "text or json", "text")
    .action(async (ref: string, o: { kubeconfig?: string; admissionKeyFile?: string; output: string }) => {
      if (o.output !== "text" && o.output !== "json")
        throw new Error(`--output: expected text or json, got "${o.output}"`);
      const pod = parsePodRef(ref);
      // Loaded when the command runs (see cli.ts: a program loads only its own modules).
      const [{ loadKubeConfig }, { loadAdmissionKeys }, { diagnose, renderDiagnosis }, { gatherDoctorInput }] =
        await Promise.all([
          import("../kube/config.ts"),
          import("../policy/index.ts"),
          import("./diagnose.ts"),
          import("./gather.ts"),
        ]);
      const keys = o.admissionKeyFile !== undefined ? loadAdmissionKeys(o.admissionKeyFile) : undefined;
      const input = await gatherDoctorInput(loadKubeConfig(o.kubeconfig), pod.namespace, pod.name, keys);
      const d = diagnose(input);
      process.stdout.write(o.output === "json" ? JSON.stringify(d, null, 2) + "\n" : renderDiagnosis(pod, d));
      process.exitCode = d.getsToken ? 0 : 1;
    });
}
