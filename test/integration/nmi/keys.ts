// The admission key the NMI cluster tests sign marks with, and its key file.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAdmissionKeys } from "../../../src/policy/admission-mark.ts";

const KEY_LINE = "podid-nmi-integration-test-key-0123456789";
export const TEST_KEYS = parseAdmissionKeys(KEY_LINE);

export function writeKeyFile(dir: string): string {
  const file = join(dir, "admission-keys");
  writeFileSync(file, `${KEY_LINE}\n`, { mode: 0o600 });
  return file;
}
