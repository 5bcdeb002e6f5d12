// The playground as a composition of parts: its Kubernetes side (the loopback emulator, or a
// real control plane with `--kube=real`); the Azure stand-ins and podid's programs are added by
// stack.ts. startPlayground returns handles so a story, a test or the CLI can drive it, and
// writes the files a user needs (kubeconfig, CA, endpoints) into the state directory.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../shared/log.ts";
import { startKubeApi, type KubeApiOptions } from "./kube/index.ts";

/** What the playground needs of its Kubernetes side, emulated or real. */
export interface KubeSide {
  url: string;
  /** The CA of the API server's certificate. */
  caPem: string;
  kubeconfigYaml(): string;
  /** The InternalIP of each node, by node name. */
  readonly nodeIps: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

export interface PlaygroundOptions {
  /** Where kubeconfig, ca.pem and endpoints.json are written (created if missing). */
  stateDir: string;
  kube?: Omit<KubeApiOptions, "logger">;
  /** A Kubernetes side already started (a real control plane); else the emulator is started with `kube`. */
  kubeSide?: KubeSide;
  /** What ca.pem holds: the playground CA (default: the API server's CA, which is the playground CA in the emulator). */
  caPem?: string;
  logger?: Logger;
}

export interface Playground {
  kube: KubeSide;
  /** Every address the playground serves, by name (written to endpoints.json). */
  endpoints: Record<string, string>;
  files: { kubeconfig: string; ca: string; endpoints: string };
  /** Adds an endpoint (a later part) and rewrites endpoints.json. */
  addEndpoint(name: string, url: string): void;
  stop(): Promise<void>;
}

export async function startPlayground(opts: PlaygroundOptions): Promise<Playground> {
  const dir = resolve(opts.stateDir);
  mkdirSync(dir, { recursive: true });
  const kube = opts.kubeSide ?? (await startKubeApi({ ...opts.kube, logger: opts.logger }));
  const files = {
    kubeconfig: join(dir, "kubeconfig"),
    ca: join(dir, "ca.pem"),
    endpoints: join(dir, "endpoints.json"),
  };
  const endpoints: Record<string, string> = { kube: kube.url };
  const writeEndpoints = (): void => writeFileSync(files.endpoints, JSON.stringify(endpoints, null, 2) + "\n");
  writeFileSync(files.kubeconfig, kube.kubeconfigYaml(), { mode: 0o600 });
  writeFileSync(files.ca, opts.caPem ?? kube.caPem);
  writeEndpoints();
  return {
    kube,
    endpoints,
    files,
    addEndpoint(name, url) {
      endpoints[name] = url;
      writeEndpoints();
    },
    async stop() {
      await kube.stop();
    },
  };
}
