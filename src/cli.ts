// podid: one executable, one subcommand per program. Each program's module builds its own
// Command (flags and wiring only); nothing here knows a program's internals. Those modules
// import their program only when its command runs: the webhook process then holds 35 MB of
// heap instead of 52 (no Azure SDK, playground or doctor), which is less to start, to keep,
// and for every full garbage collection to walk.
import { Command } from "commander";
import { doctorCommand } from "./doctor/command.ts";
import { keysCommand } from "./keys/command.ts";
import { playgroundCommand } from "./playground/command.ts";
import { reconcilerCommand } from "./reconciler/main.ts";
import { nmiCommand } from "./nmi/command.ts";
import { webhookCommand } from "./webhook/command.ts";

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
  program.addCommand(keysCommand());
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
