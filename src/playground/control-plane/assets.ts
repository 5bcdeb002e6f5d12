// Where the real control plane's binaries are, by the ecosystem's convention (controller-runtime's
// envtest and `setup-envtest`): a folder named by KUBEBUILDER_ASSETS holding kube-apiserver and
// kube-controller-manager (and etcd, when it ships one), defaulting in a checkout to the shared
// folder beside the project. etcd may also come from the machine (Debian's etcd-server package).
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ASSETS_ENV = "KUBEBUILDER_ASSETS";

/** `../shared/envtest/bin` from a checkout's root (this file is src/playground/control-plane/). */
export const CHECKOUT_ASSETS = resolve(fileURLToPath(new URL("../../../../shared/envtest/bin", import.meta.url)));

export interface ControlPlaneAssets {
  dir: string;
  apiServer: string;
  controllerManager: string;
  etcd: string;
}

/** Thrown when a binary is missing: the message says how to get it, never "skipped". */
export class MissingAssetsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingAssetsError";
  }
}

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const HOW_TO_GET = [
  `Set ${ASSETS_ENV} to a folder holding kube-apiserver and kube-controller-manager, e.g.`,
  `  export ${ASSETS_ENV}=$(go run sigs.k8s.io/controller-runtime/tools/setup-envtest@latest use -p path)`,
  `or, in a checkout of podid, keep ../shared/envtest/bin beside it (the default).`,
  `etcd comes from the same folder or from the machine: apt-get install -y etcd-server (/usr/bin/etcd).`,
].join("\n");

/** The binaries, or a MissingAssetsError naming what is missing and how to get it. */
export function findAssets(env: NodeJS.ProcessEnv = process.env): ControlPlaneAssets {
  const fromEnv = env[ASSETS_ENV];
  const dir = fromEnv !== undefined && fromEnv !== "" ? resolve(fromEnv) : CHECKOUT_ASSETS;
  const where =
    fromEnv !== undefined && fromEnv !== "" ? `${ASSETS_ENV}=${dir}` : `${dir} (the default; ${ASSETS_ENV} is unset)`;
  const missing: string[] = [];
  const binary = (name: string): string => {
    const p = join(dir, name);
    if (!executable(p)) missing.push(name);
    return p;
  };
  const apiServer = binary("kube-apiserver");
  const controllerManager = binary("kube-controller-manager");
  const etcdHere = join(dir, "etcd");
  const etcd = executable(etcdHere)
    ? etcdHere
    : (onPath("etcd") ?? (existsSync("/usr/bin/etcd") ? "/usr/bin/etcd" : ""));
  if (etcd === "") missing.push("etcd (not in the folder nor on the PATH)");
  if (missing.length > 0) {
    throw new MissingAssetsError(
      `the real-cluster tests need a real kube-apiserver, kube-controller-manager and etcd; ` +
        `missing from ${where}: ${missing.join(", ")}.\n${HOW_TO_GET}`,
    );
  }
  return { dir, apiServer, controllerManager, etcd };
}
