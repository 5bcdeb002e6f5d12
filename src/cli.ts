// podid: one executable, one subcommand per program. Each program's module builds its own
// Command (flags and wiring only); nothing here knows a program's internals.
import { Command } from "commander";
import { doctorCommand } from "./doctor/command.ts";
import { playgroundCommand } from "./playground/command.ts";
import { reconcilerCommand } from "./reconciler/main.ts";
import { nmiCommand } from "./nmi/command.ts";

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
  return program;
}

const isMain = process.argv[1] !== undefined && /(cli\.(ts|js)|podid(\.js)?)$/.test(process.argv[1]);
if (isMain) {
  await buildCli().parseAsync(process.argv);
}
