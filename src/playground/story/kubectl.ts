// The story drives the cluster as a person would: with the machine's real kubectl.
import { execFile } from "node:child_process";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(kubeconfig: string, args: string[], stdin?: string): Promise<KubectlResult> {
  return new Promise((done) => {
    const child = execFile(
      "kubectl",
      ["--kubeconfig", kubeconfig, ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
    child.stdin?.end(stdin ?? "");
  });
}
