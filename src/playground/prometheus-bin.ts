// Where Debian's prometheus package puts its binaries (`apt-get install -y prometheus`), or the
// PATH: the playground's --prometheus and the tests run the real Prometheus and promtool, and
// say how to get them when they are missing (never a silent skip).
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export type PrometheusBinary = "prometheus" | "promtool";

export function prometheusBinary(name: PrometheusBinary): string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/local/bin"].filter((d) => d !== "");
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here; try the next directory
    }
  }
  throw new Error(
    `${name} is not installed: install Debian's prometheus package (apt-get install -y prometheus), which ships prometheus and promtool`,
  );
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs promtool; `stdin` feeds e.g. `promtool check metrics`. Never throws on a non-zero exit. */
export function promtool(args: string[], stdin?: string): Promise<ToolRun> {
  const bin = prometheusBinary("promtool");
  return new Promise((done) => {
    const child = execFile(bin, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
    child.stdin?.end(stdin ?? "");
  });
}
