// Runs a script as the process of a pod's container: the kubelet's environment for that
// container, the pod's IP as the source of its loopback connections (podnet preload), and the
// playground CA trusted, since the stand-ins serve HTTPS with it.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { containerEnv } from "./kubelet-env.ts";
import { POD_IP_ENV } from "./podnet/bind.ts";

const PRELOAD = resolve(fileURLToPath(new URL("./podnet/preload.ts", import.meta.url)));

export interface PodProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runInPod(
  pod: Record<string, unknown>,
  opts: {
    container: string;
    script: string;
    /** Arguments after the script (a container's args, e.g. `podid wait`'s). */
    args?: string[];
    caFile: string;
    env?: Record<string, string>;
    timeoutMs?: number;
  },
): Promise<PodProcessResult> {
  const status = pod.status as { podIP?: string } | undefined;
  if (status?.podIP === undefined) throw new Error("the pod has no IP yet (not Running)");
  const env = {
    PATH: process.env.PATH ?? "",
    NODE_EXTRA_CA_CERTS: opts.caFile,
    [POD_IP_ENV]: status.podIP,
    ...containerEnv(pod, opts.container),
    ...opts.env,
  };
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "--import", PRELOAD, opts.script, ...(opts.args ?? [])],
      { env, timeout: opts.timeoutMs ?? 60_000, cwd: resolve(fileURLToPath(new URL("../..", import.meta.url))) },
      (err, stdout, stderr) =>
        done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
  });
}
