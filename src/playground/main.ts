// The playground as a composition of parts: today the loopback Kubernetes API; the Azure
// stand-ins and podid's programs are added here by the coordinator. startPlayground returns
// handles so a story, a test or the CLI can drive it, and writes the files a user needs
// (kubeconfig, CA, endpoints) into the state directory.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../shared/log.ts";
import { startKubeApi, type KubeApiOptions, type KubeApiServer } from "./kube/index.ts";

export interface PlaygroundOptions {
  /** Where kubeconfig, ca.pem and endpoints.json are written (created if missing). */
  stateDir: string;
  kube?: Omit<KubeApiOptions, "logger">;
  logger?: Logger;
}

export interface Playground {
  kube: KubeApiServer;
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
  const kube = await startKubeApi({ ...opts.kube, logger: opts.logger });
  const files = {
    kubeconfig: join(dir, "kubeconfig"),
    ca: join(dir, "ca.pem"),
    endpoints: join(dir, "endpoints.json"),
  };
  const endpoints: Record<string, string> = { kube: kube.url };
  const writeEndpoints = (): void => writeFileSync(files.endpoints, JSON.stringify(endpoints, null, 2) + "\n");
  writeFileSync(files.kubeconfig, kube.kubeconfigYaml(), { mode: 0o600 });
  writeFileSync(files.ca, kube.caPem);
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
