// podid: one executable, one subcommand per program. Each program's module builds its own
// Command (flags and wiring only); nothing here knows a program's internals. Those modules
// import their program only when its command runs: the webhook process then holds 35 MB of
// heap instead of 52 (no Azure SDK, playground or doctor), which is less to start, to keep,
// and for every full garbage collection to walk.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { doctorCommand } from "./doctor/command.ts";
import { reconcilerCommand } from "./reconciler/main.ts";
import { nmiCommand } from "./nmi/command.ts";
import { webhookCommand } from "./webhook/command.ts";

const PLAYGROUND_ABSENT =
  "podid playground is not part of this build: the container image holds the webhook, the reconciler, " +
  "the NMI and the doctor, and nothing of the playground. Run it from a source checkout: npm install && npm start";

/**
 * The playground is left out of the production build (dist/, the image: tsconfig.build.json): its
 * command is loaded from beside this file when it is there (.ts under tsx, .js in a build), found
 * by a computed path so that the compiler does not pull it into the build, and otherwise replaced
 * by a command that says where the playground is.
 */
async function loadPlaygroundCommand(): Promise<() => Command> {
  const here = fileURLToPath(import.meta.url);
  const url = new URL(`./playground/command${extname(here)}`, import.meta.url);
  try {
    const mod = (await import(url.href)) as { playgroundCommand: () => Command };
    return mod.playgroundCommand;
  } catch (e) {
    // Only the playground's command itself being absent; any other failure is a real error.
    const absent = (e as { code?: string }).code === "ERR_MODULE_NOT_FOUND" && String(e).includes(fileURLToPath(url));
    if (!absent) throw e;
    return () =>
      new Command("playground")
        .description("(not in this build) the playground runs from a source checkout")
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          throw new Error(PLAYGROUND_ABSENT);
        });
  }
}
const playgroundCommand = await loadPlaygroundCommand();

export function buildCli(): Command {
  const program = new Command("podid")
    .description("Azure identities for Kubernetes pods, without secrets, safe for shared clusters")
    .version("0.1.0")
    .showHelpAfterError()
    .enablePositionalOptions();
  // Subcommands register themselves below, one line each, as they land.
  program.addCommand(playgroundCommand());
  program.addCommand(doctorCommand());
  program.addCommand(reconcilerCommand());
  program.addCommand(nmiCommand());
  program.addCommand(webhookCommand());
  return program;
}

const isMain = process.argv[1] !== undefined && /(cli\.(ts|js)|podid(\.js)?)$/.test(process.argv[1]);
if (isMain) {
  try {
    await buildCli().parseAsync(process.argv);
  } catch (err) {
    // A person reads this: the message, not a stack trace (PODID_DEBUG=1 shows the stack).
    process.stderr.write(`podid: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.PODID_DEBUG === "1" && err instanceof Error) process.stderr.write(`${err.stack ?? ""}\n`);
    process.exitCode = 1;
  }
}
