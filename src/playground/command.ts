// `podid playground`: the whole of podid on 127.0.0.1 with no cluster and no Azure account.
// It starts the Kubernetes API and Azure stand-ins, installs podid from config/default, runs
// the webhook, the reconciler and one NMI per node, prints `ready`, walks the seed's story
// step by step, then stays up for kubectl until SIGINT/SIGTERM. `--once` runs the story and
// exits 0 only if every step did what it should. `--kube-only` starts just the Kubernetes API.
// `--kube=real` puts the Kubernetes side on a real kube-apiserver and controller-manager
// (KUBEBUILDER_ASSETS) instead of the emulator.
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { createLogger } from "../shared/log.ts";
import type { KubeMode } from "./stack.ts";
import type { STORY as Story } from "./story/story.ts";

interface Flags {
  stateDir: string;
  port: string;
  simulateKubelet: boolean;
  once: boolean;
  story: boolean;
  kubeOnly: boolean;
  prometheus: boolean;
  kube: KubeMode;
}

const out = (line: string): void => void process.stdout.write(line + "\n");

function whatToTry(stateDir: string, STORY: typeof Story, prometheus?: string): string[] {
  const kc = `--kubeconfig ${resolve(stateDir, "kubeconfig")}`;
  const prom =
    prometheus === undefined
      ? []
      : [
          `  open ${prometheus}/targets and ${prometheus}/alerts (podid's rules), or query:`,
          `  curl -s '${prometheus}/api/v1/query?query=sum+by+(job)+(up)'`,
        ];
  return [
    "",
    "What to try (in another terminal):",
    `  kubectl ${kc} get azureidentities,azureidentitybindings,azureassignedidentities -A`,
    `  kubectl ${kc} get pods -n ${STORY.teamA} -o wide`,
    `  npm run podid -- doctor ${STORY.teamA}/<pod> ${kc} --admission-key-file ${resolve(stateDir, "admission.key")}`,
    `  kubectl ${kc} run borrow -n ${STORY.teamB} --image=x --labels=aadpodidbinding=${STORY.selector}   # rejected`,
    `  logs of the programs: ${resolve(stateDir, "logs")}`,
    ...prom,
    "Ctrl-C stops the playground.",
  ];
}

function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const onSignal = (): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      stop().then(done, (err: unknown) => {
        process.stderr.write(
          `podid playground: stopping failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        done();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

async function runKubeOnly(o: Flags, port: number): Promise<void> {
  const log = createLogger("playground");
  const [{ startPlayground }, { startRealKube, controlPlaneDir }, { DEFAULT_NODES }] = await Promise.all([
    import("./main.ts"),
    import("./real-kube.ts"),
    import("./kube/controllers/nodes.ts"),
  ]);
  const pg =
    o.kube === "real"
      ? await startPlayground({
          stateDir: o.stateDir,
          logger: log,
          kubeSide: await startRealKube({
            dir: controlPlaneDir(o.stateDir),
            nodes: DEFAULT_NODES,
            simulateKubelet: o.simulateKubelet,
            ...(port !== 0 ? { port } : {}),
            logger: log,
          }),
        })
      : await startPlayground({
          stateDir: o.stateDir,
          kube: { port, simulateKubelet: o.simulateKubelet },
          logger: log,
        });
  log.info({ endpoints: pg.endpoints, kubeconfig: pg.files.kubeconfig }, "playground running");
  out("ready");
  await untilSignal(() => pg.stop());
}

async function runFull(o: Flags): Promise<void> {
  const log = createLogger("playground", process.env.PODID_LOG_LEVEL ?? "warn");
  // Loaded when the command runs (see cli.ts: a program loads only its own modules).
  const [{ startStack }, { runStory, STORY, storySucceeded }] = await Promise.all([
    import("./stack.ts"),
    import("./story/story.ts"),
  ]);
  out("Starting the podid playground (everything on 127.0.0.1)...");
  const stack = await startStack({
    stateDir: o.stateDir,
    logger: log,
    say: (l) => out(`  ${l}`),
    prometheus: o.prometheus,
    kube: o.kube,
  });
  out(`kubeconfig: ${stack.files.kubeconfig}`);
  out("ready");
  // A signal during the story stops everything at once.
  const stopped = untilSignal(() => stack.stop()).then(() => process.exit(0));
  let ok = true;
  if (o.story || o.once) {
    out("\nThe seed's story, step by step:");
    const results = await runStory(stack, out);
    ok = storySucceeded(results);
    out(ok ? "\nEvery step did what it should." : "\nThe story stopped at a failed step (see above and the logs).");
  }
  if (o.once) {
    await stack.stop();
    process.exit(ok ? 0 : 1);
  }
  for (const l of whatToTry(o.stateDir, STORY, stack.prometheus?.url)) out(l);
  await stopped;
}

export function playgroundCommand(): Command {
  return new Command("playground")
    .description("run podid on 127.0.0.1 with stand-ins for Kubernetes and Azure, and walk the seed's story")
    .option("--state-dir <dir>", "where kubeconfig, ca.pem, endpoints.json, keys and logs are written", ".podid")
    .option("--once", "run the story and exit: 0 only if every step did what it should", false)
    .option("--no-story", "start everything but do not run the story")
    .option("--kube-only", "start only the loopback Kubernetes API", false)
    .option(
      "--prometheus",
      "also run a real Prometheus on 127.0.0.1 scraping every program, with podid's rules (apt-get install prometheus)",
      false,
    )
    .addOption(
      new Option(
        "--kube <mode>",
        "the Kubernetes side: emulator (in-process) or real (kube-apiserver, kube-controller-manager and etcd from KUBEBUILDER_ASSETS)",
      )
        .choices(["emulator", "real"])
        .default("emulator"),
    )
    .option("--port <port>", "port of the Kubernetes API with --kube-only (0: any free port)", "0")
    .option("--no-simulate-kubelet", "with --kube-only: leave pods unscheduled and Pending")
    .action(async (o: Flags) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port: expected an integer from 0 to 65535, got "${o.port}"`);
      if (o.kubeOnly && o.prometheus)
        throw new Error("--prometheus: not with --kube-only (there is nothing to scrape)");
      if (o.kubeOnly) await runKubeOnly(o, port);
      else await runFull(o);
    });
}
