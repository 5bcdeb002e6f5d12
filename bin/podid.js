#!/usr/bin/env node
// The `podid` executable. A source checkout runs src/cli.ts through tsx, so `npx podid` works
// after `npm install` and always runs the source as it is now; the container image, which has
// dist/ but neither src/ nor tsx (a devDependency), runs the compiled CLI. The source wins
// when both are there: a dist/ left by an earlier `npm run build` would otherwise run stale
// code in the playground, `npm start` and the tests without a word.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import process from "node:process";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "cli.ts");
const built = join(root, "dist", "cli.js");

const tsx = existsSync(source) ? await import("tsx/esm/api").catch(() => undefined) : undefined;
if (tsx !== undefined) {
  tsx.register();
  await import(pathToFileURL(source).href);
} else if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  process.stderr.write(
    `podid: found neither ${source} with tsx installed nor ${built}; run \`npm install\` (and \`npm run build\` for dist/)\n`,
  );
  process.exit(1);
}
