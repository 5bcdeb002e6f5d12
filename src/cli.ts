// podid: one executable, one subcommand per program. Each program's module builds its own
// Command (flags and wiring only); nothing here knows a program's internals. Those modules
// import their program only when its command runs: the webhook process then holds 35 MB of
// heap instead of 52 (no Azure SDK, playground or doctor), which is less to start, to keep,
// and for every full garbage collection to walk.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { doctorCommand } from "./doctor/command.ts";
import { migrateCommand } from "./migrate/command.ts";
import { keysCommand } from "./keys/command.ts";
import { reconcilerCommand } from "./reconciler/main.ts";
import { nmiCommand } from "./nmi/command.ts";
import { waitCommand } from "./wait/command.ts";
import { webhookCommand } from "./webhook/command.ts";

const PLAYGROUND_ABSENT =
  "podid playground is not part of this build: the container image holds the webhook, the reconciler, " +
  "the NMI and the doctor, and nothing of the playground. Run it from a source checkout: npm install && npm start";

/** Commands that take any flag (the playground's stand-in in a build): refusal() lets them answer. */
const takesAnyFlag = new WeakSet<Command>();

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
    return () => {
      const stand = new Command("playground")
        .description("(not in this build) the playground runs from a source checkout")
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          throw new Error(PLAYGROUND_ABSENT);
        });
      takesAnyFlag.add(stand);
      return stand;
    };
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
  program.addCommand(migrateCommand());
  program.addCommand(reconcilerCommand());
  program.addCommand(nmiCommand());
  program.addCommand(webhookCommand());
  program.addCommand(waitCommand());
  program.addCommand(keysCommand());
  return program;
}

/**
 * What podid does not know, said before Commander parses: Commander answers `podid <unknown>
 * --help`, `podid help <unknown>` and `podid <cmd> --bogus --help` with a help page and exit 0,
 * so a script calling a command or flag this version lacks would carry on as if it had worked.
 * The top level has only flags without values, so its first other word names the command.
 */
export function refusal(program: Command, args: readonly string[]): string | undefined {
  const known = new Map(program.commands.flatMap((c) => [c.name(), ...c.aliases()].map((n) => [n, c] as const)));
  const at = args.findIndex((a) => !a.startsWith("-"));
  const top = at === -1 ? args : args.slice(0, at);
  const bad = unknownFlag(program, top);
  if (bad !== undefined) return `podid: unknown option '${bad}' (see podid --help)`;
  if (at === -1) return undefined;
  const word = args[at]!;
  const asked = word === "help" ? args.slice(at + 1).find((a) => !a.startsWith("-")) : word;
  if (asked === undefined || asked === "help") return undefined;
  const cmd = known.get(asked);
  if (cmd === undefined)
    return `podid: unknown command '${asked}' (commands: ${[...known.keys()].sort().join(", ")}; see podid --help)`;
  const flag = word === "help" ? undefined : unknownFlag(cmd, args.slice(at + 1));
  return flag === undefined ? undefined : `podid ${asked}: unknown option '${flag}' (see podid ${asked} --help)`;
}

/** The first option in `args` that `cmd` does not declare (values of declared options skipped). */
function unknownFlag(cmd: Command, args: readonly string[]): string | undefined {
  if (takesAnyFlag.has(cmd)) return undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return undefined;
    if (!a.startsWith("-") || a === "-") continue;
    const name = a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    if (["-h", "--help"].includes(name) || (cmd.parent === null && ["-V", "--version"].includes(name))) continue;
    const opt = cmd.options.find((o) => o.long === name || o.short === name);
    if (opt === undefined) return name;
    if (opt.required && !a.includes("=")) i++;
  }
  return undefined;
}

const isMain = process.argv[1] !== undefined && /(cli\.(ts|js)|podid(\.js)?)$/.test(process.argv[1]);
if (isMain) {
  try {
    const cli = buildCli();
    const refused = refusal(cli, process.argv.slice(2));
    if (refused !== undefined) {
      process.stderr.write(`${refused}\n`);
      process.exit(1);
    }
    await cli.parseAsync(process.argv);
  } catch (err) {
    // A person reads this: the message, not a stack trace (PODID_DEBUG=1 shows the stack).
    process.stderr.write(`podid: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.PODID_DEBUG === "1" && err instanceof Error) process.stderr.write(`${err.stack ?? ""}\n`);
    process.exitCode = 1;
  }
}
