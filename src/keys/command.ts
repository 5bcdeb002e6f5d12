// `podid keys status|stage|promote|retire`: rotate the admission-mark keys in two phases without
// a pod ever getting a 403 (flags only; the steps are in main.ts, loaded when a command runs).
import { Command, InvalidArgumentError } from "commander";
import { SYSTEM_NAMESPACE } from "../model/constants.ts";

interface Common {
  kubeconfig?: string;
  namespace: string;
}

async function target(o: Common) {
  const { loadKubeConfig } = await import("../kube/config.ts");
  return { kc: loadKubeConfig(o.kubeconfig), namespace: o.namespace };
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`--after-seconds expects whole seconds, got "${v}"`);
  return n;
};

function withCommon(c: Command): Command {
  return c
    .option("--kubeconfig <file>", "kubeconfig (default: in-cluster, then $KUBECONFIG)")
    .option(
      "--namespace <ns>",
      "podid's namespace, where Secret podid-admission-keys is",
      process.env.POD_NAMESPACE ?? SYSTEM_NAMESPACE,
    );
}

export function keysCommand(): Command {
  const keys = new Command("keys").description(
    "rotate the admission-mark keys in two phases: stage (verifies everywhere), promote (signs), retire (old keys go)",
  );
  keys.addCommand(
    withCommon(
      new Command("status").description("list the keys, their roles and how many pods carry marks by each"),
    ).action(async (o: Common) => {
      const { status } = await import("./main.ts");
      const s = await status(await target(o));
      for (const k of s.keys) process.stdout.write(`${k.id}  ${k.role.padEnd(8)}  ${k.pods} pod(s)\n`);
      if (s.stagedAt !== undefined) process.stdout.write(`staged at ${s.stagedAt}\n`);
    }),
  );
  keys.addCommand(
    withCommon(
      new Command("stage").description("add a new key that every reader accepts but nobody signs with yet"),
    ).action(async (o: Common) => {
      const { stage, DEFAULT_PROMOTE_AFTER_SECONDS } = await import("./main.ts");
      const id = await stage(await target(o));
      process.stdout.write(
        `staged key ${id}; run \`podid keys promote\` in ${DEFAULT_PROMOTE_AFTER_SECONDS} s, once every NMI has loaded it\n`,
      );
    }),
  );
  keys.addCommand(
    withCommon(new Command("promote").description("make the staged key the signing key (the old one still verifies)"))
      .option("--after-seconds <s>", "how long the key must have been staged", seconds)
      .action(async (o: Common & { afterSeconds?: number }) => {
        const { promote } = await import("./main.ts");
        const id = await promote(await target(o), o.afterSeconds);
        process.stdout.write(
          `key ${id} now signs; retire the old one (podid keys retire) once its pods are recreated\n`,
        );
      }),
  );
  keys.addCommand(
    withCommon(new Command("retire").description("remove every key but the signing one, unless pods still need them"))
      .option("--force", "retire even though pods carry marks the old keys signed (they lose their tokens)", false)
      .action(async (o: Common & { force: boolean }) => {
        const { retire } = await import("./main.ts");
        const gone = await retire(await target(o), o.force);
        process.stdout.write(gone.length === 0 ? "nothing to retire\n" : `retired key ${gone.join(", ")}\n`);
      }),
  );
  return keys;
}
