import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "mocha";
import {
  loadAdmissionKeys,
  markVersion,
  parseAdmissionKeys,
  signAdmissionMark,
  verifyAdmissionMark,
  type MarkClaims,
} from "../../../src/policy/index.ts";
import { legacyMark } from "./fixtures.ts";

const K1 = "k1-0123456789abcdef0123456789abcdef";
const K2 = "k2-fedcba9876543210fedcba9876543210";
const claims: MarkClaims = {
  namespace: "team-a",
  serviceAccountName: "myapp",
  selector: "myapp",
  nmiMode: "daemonset",
  identities: [
    { name: "b-id", clientID: "11111111-2222-3333-4444-555555555555" },
    {
      name: "a-id",
      clientID: "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d",
      resourceID: "/subscriptions/s/resourceGroups/rg/x/a-id",
    },
  ],
};

describe("policy: admission marks", () => {
  const keys = parseAdmissionKeys(`${K1}\n`);
  const mark = signAdmissionMark(keys, claims);

  it("has the form v2.<key id>.<base64url mac>", () => assert.match(mark, /^v2\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}$/));
  it("compares resource IDs as Azure does (case-insensitively)", () =>
    assert.deepEqual(
      verifyAdmissionMark(keys, mark, {
        ...claims,
        identities: [
          claims.identities[0]!,
          { ...claims.identities[1]!, resourceID: "/SUBSCRIPTIONS/s/resourcegroups/RG/x/a-id" },
        ],
      }),
      { valid: true },
    ));
  it("verifies with the same claims, identities in any order and client IDs in any case", () =>
    assert.deepEqual(
      verifyAdmissionMark(keys, mark, {
        ...claims,
        identities: [
          { ...claims.identities[1]!, clientID: claims.identities[1]!.clientID.toUpperCase() },
          claims.identities[0]!,
        ],
      }),
      { valid: true },
    ));
  it("treats an empty service account as `default`", () => {
    const m = signAdmissionMark(keys, { ...claims, serviceAccountName: "" });
    assert.deepEqual(verifyAdmissionMark(keys, m, { ...claims, serviceAccountName: "default" }), { valid: true });
  });

  const tampered: Array<[string, MarkClaims]> = [
    ["another namespace", { ...claims, namespace: "team-b" }],
    ["another service account", { ...claims, serviceAccountName: "default" }],
    ["another selector", { ...claims, selector: "other" }],
    ["one identity fewer", { ...claims, identities: claims.identities.slice(1) }],
    ["an extra identity", { ...claims, identities: [...claims.identities, { name: "c", clientID: "x" }] }],
    [
      "another client ID",
      {
        ...claims,
        identities: [
          claims.identities[0]!,
          { ...claims.identities[1]!, clientID: "00000000-0000-0000-0000-000000000000" },
        ],
      },
    ],
    ["namespace and selector glued differently", { ...claims, namespace: "team-am", selector: "yapp" }],
    ["another NMI mode (served by address instead of token)", { ...claims, nmiMode: "sidecar" }],
    [
      "another resource ID",
      {
        ...claims,
        identities: [
          claims.identities[0]!,
          { ...claims.identities[1]!, resourceID: "/subscriptions/s/resourceGroups/rg/x/other" },
        ],
      },
    ],
  ];
  for (const [name, c] of tampered)
    it(`refuses a mark copied to ${name}`, () => {
      const r = verifyAdmissionMark(keys, mark, c);
      assert.equal(r.valid, false);
      if (!r.valid) assert.match(r.reason, /does not match/);
    });

  const broken: Array<[string, string | undefined, RegExp]> = [
    ["no mark", undefined, /no admission mark/],
    ["empty", "", /no admission mark/],
    ["garbage", "hello", /malformed/],
    ["unknown version", mark.replace(/^v2/, "v9"), /unknown version/],
    ["unknown key", signAdmissionMark(parseAdmissionKeys(K2), claims), /no longer accepted/],
    ["truncated mac", mark.slice(0, -4), /does not match/],
  ];
  for (const [name, value, reason] of broken)
    it(`refuses ${name}`, () => {
      const r = verifyAdmissionMark(keys, value, claims);
      assert.equal(r.valid, false);
      if (!r.valid) assert.match(r.reason, reason);
    });

  it("rotation: marks by the previous key still verify, new marks use the new key", () => {
    const rotated = parseAdmissionKeys(`# rotated\n${K2}\n\n${K1}\n`);
    assert.deepEqual(verifyAdmissionMark(rotated, mark, claims), { valid: true });
    const fresh = signAdmissionMark(rotated, claims);
    assert.notEqual(fresh.split(".")[1], mark.split(".")[1]);
    assert.equal(verifyAdmissionMark(keys, fresh, claims).valid, false);
  });

  it("signs repeated claims (ReplicaSet siblings) to the same mark, and different claims or keys to different marks", () => {
    const keys = parseAdmissionKeys(K1);
    const first = signAdmissionMark(keys, claims);
    assert.equal(signAdmissionMark(keys, { ...claims, identities: [...claims.identities].reverse() }), first);
    assert.notEqual(signAdmissionMark(keys, { ...claims, namespace: "team-b" }), first);
    const otherKey = parseAdmissionKeys(K2);
    const other = signAdmissionMark(otherKey, claims);
    assert.notEqual(other, first);
    assert.deepEqual(verifyAdmissionMark(otherKey, other, claims), { valid: true });
    assert.equal(verifyAdmissionMark(otherKey, first, claims).valid, false);
  });

  it("still verifies marks of the older format (v1) against the identities bound now", () => {
    const v1 = legacyMark(K1, claims);
    assert.deepEqual(verifyAdmissionMark(keys, v1, claims), { valid: true });
    // v1 covered neither the NMI mode nor resource IDs, exactly as before.
    assert.deepEqual(verifyAdmissionMark(keys, v1, { ...claims, identities: claims.identities.slice(1) }).valid, false);
    assert.equal(markVersion(v1), "v1");
    assert.equal(markVersion(mark), "v2");
  });

  it("refuses key files without keys or with short keys", () => {
    assert.throws(() => parseAdmissionKeys("# nothing\n\n"), /expected at least one key/);
    assert.throws(() => parseAdmissionKeys(`${K1}\nshort\n`), /key 2 is 5 bytes; expected at least 16/);
  });

  const dir = mkdtempSync(join(tmpdir(), "podid-keys-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  it("loads keys from a file and names it in errors", () => {
    const file = join(dir, "keys");
    writeFileSync(file, `${K1}\r\n${K2}\r\n`);
    const k = loadAdmissionKeys(file);
    assert.equal(k.current.toString(), K1);
    assert.deepEqual(k.previous.map(String), [K2]);
    writeFileSync(file, "");
    assert.throws(() => loadAdmissionKeys(file), new RegExp(file.replace(/[/\\.]/g, "\\$&")));
  });
});
