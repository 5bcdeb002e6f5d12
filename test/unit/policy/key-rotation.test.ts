import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { parseAdmissionKeys } from "../../../src/policy/index.ts";
import { newKey, promoteKey, readKeyRing, retireKeys, stageKey } from "../../../src/policy/key-rotation.ts";

const K1 = "k1-0123456789abcdef0123456789abcdef";
const K2 = "k2-fedcba9876543210fedcba9876543210";

describe("policy: two-phase admission key rotation", () => {
  it("stage: the new key verifies (last line) while the old one still signs", () => {
    const { text, id } = stageKey(`${K1}\n`, K2);
    const keys = parseAdmissionKeys(text);
    assert.equal(keys.current.toString(), K1);
    assert.deepEqual(keys.previous.map(String), [K2]);
    assert.equal(readKeyRing(text).ids[1], id);
  });
  it("promote: the staged key signs, the old one still verifies", () => {
    const { text, id } = stageKey(`${K1}\n`, K2);
    const keys = parseAdmissionKeys(promoteKey(text, id));
    assert.deepEqual([keys.current.toString(), keys.previous.map(String)], [K2, [K1]]);
  });
  it("retire: only the signing key is left, and the retired ids are named", () => {
    const staged = stageKey(`${K1}\n`, K2);
    const promoted = promoteKey(staged.text, staged.id);
    const { text, retired } = retireKeys(promoted);
    assert.deepEqual(parseAdmissionKeys(text).previous, []);
    assert.deepEqual(retired, [readKeyRing(`${K1}\n`).ids[0]]);
  });
  it("refuses what would be a mistake, saying so", () => {
    assert.throws(() => stageKey(`${K1}\n`, K1), /already in the Secret/);
    assert.throws(() => promoteKey(`${K1}\n`, "nope"), /not in the Secret/);
    assert.throws(() => promoteKey(`${K1}\n`, readKeyRing(K1).ids[0]!), /already signs/);
    assert.throws(() => stageKey("", K2), /expected at least one key/);
  });
  it("new keys are 32 random bytes, base64", () => {
    const k = newKey();
    assert.equal(Buffer.from(k, "base64").length, 32);
    assert.notEqual(k, newKey());
  });
});
