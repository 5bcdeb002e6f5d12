// `podid playground`: starts every playground part that exists, writes the state directory,
// prints `ready`, and runs until SIGINT/SIGTERM. Flags and wiring only.
import { Command } from "commander";
import { createLogger } from "../shared/log.ts";
import { startPlayground } from "./main.ts";

export function playgroundCommand(): Command {
  return new Command("playground")
    .description("run a loopback Kubernetes API (and the other playground parts) for development and tests")
    .option("--state-dir <dir>", "where kubeconfig, ca.pem and endpoints.json are written", ".podid")
    .option("--port <port>", "port of the Kubernetes API (0: any free port)", "0")
    .option("--no-simulate-kubelet", "leave pods unscheduled and Pending (no scheduler or kubelet)")
    .action(async (o: { stateDir: string; port: string; simulateKubelet: boolean }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected an integer from 0 to 65535, got "${o.port}"`);
      const log = createLogger("playground");
      const pg = await startPlayground({ stateDir: o.stateDir, kube: { port, simulateKubelet: o.simulateKubelet }, logger: log });
      log.info({ endpoints: pg.endpoints, kubeconfig: pg.files.kubeconfig }, "playground running");
      process.stdout.write("ready\n");
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          pg.stop().then(done, (err: unknown) => {
            log.error({ err: err instanceof Error ? err.message : String(err) }, "stopping the playground failed");
            done();
          });
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
