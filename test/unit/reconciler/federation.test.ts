// Federation's pure decisions: which identities need the credential, what to do about the one
// Resource Manager has, what a pod's AzureAssignedIdentity says while it moves between sources,
// the issuer from discovery, and the reconciler's federation flags.
import assert from "node:assert/strict";
import { FEDERATION } from "../../../src/model/constants.ts";
import type {
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityPolicy,
  TokenSourceName,
} from "../../../src/model/types.ts";
import type { AssignedStatus } from "../../../src/reconciler/desired.ts";
import {
  credentialAction,
  federatedBound,
  keepsNode,
  missingCredential,
  refusedCredential,
  reliesOnCredential,
  sourcedStatus,
  wantedCredential,
  type CredentialState,
} from "../../../src/reconciler/federation.ts";
import { issuerFromDiscovery } from "../../../src/reconciler/issuer.ts";
import { reconcilerCommand } from "../../../src/reconciler/main.ts";

const ISSUER = "https://oidc.example/tenant/cluster/";
const want = wantedCredential({ issuer: ISSUER, podidNamespace: "podid-system" });
const idId = (n: string): string =>
  `/subscriptions/s/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`;
const meta = (name: string, namespace: string) => ({ name, namespace, labels: {}, annotations: {} });

describe("reconciler/federation decisions", () => {
  it("the credential podid wants: the cluster's issuer, the NMI's service account, Entra's exchange audience", () => {
    assert.deepEqual(want, {
      issuer: ISSUER,
      subject: "system:serviceaccount:podid-system:podid-nmi",
      audiences: ["api://AzureADTokenExchange"],
    });
  });

  describe("credentialAction", () => {
    const cred = (over: Partial<typeof want> = {}) => ({ id: "x", name: FEDERATION.credentialName, ...want, ...over });
    const cases: Array<{ name: string; wanted: boolean; actual?: ReturnType<typeof cred>; expect: string }> = [
      { name: "wanted, missing: create", wanted: true, expect: "create" },
      { name: "wanted, matching: nothing", wanted: true, actual: cred(), expect: "none" },
      {
        name: "another issuer: correct",
        wanted: true,
        actual: cred({ issuer: "https://evil.example" }),
        expect: "correct",
      },
      {
        name: "another subject: correct",
        wanted: true,
        actual: cred({ subject: "system:serviceaccount:x:y" }),
        expect: "correct",
      },
      {
        name: "another audience: correct",
        wanted: true,
        actual: cred({ audiences: ["api://other"] }),
        expect: "correct",
      },
      {
        name: "an issuer differing in its slash: correct (Entra compares exactly)",
        wanted: true,
        actual: cred({ issuer: ISSUER.slice(0, -1) }),
        expect: "correct",
      },
      { name: "not wanted, present: delete", wanted: false, actual: cred(), expect: "delete" },
      { name: "not wanted, absent: nothing", wanted: false, expect: "none" },
    ];
    for (const c of cases)
      it(c.name, () => assert.equal(credentialAction(c.wanted ? want : undefined, c.actual), c.expect));
  });

  describe("federatedBound: bound as Federated in any namespace, once per identity", () => {
    const identity = (ns: string, name: string, source?: TokenSourceName, rid = idId(name)): AzureIdentity => ({
      metadata: meta(name, ns),
      type: 0,
      clientID: `c-${name}`,
      resourceID: rid,
      ...(source !== undefined ? { tokenSource: source } : {}),
    });
    const binding = (ns: string, identityName: string): AzureIdentityBinding => ({
      metadata: meta(`${identityName}-b`, ns),
      azureIdentity: identityName,
      selector: identityName,
    });
    const run = (
      identities: AzureIdentity[],
      bindings: AzureIdentityBinding[],
      clusterDefault: TokenSourceName = "NodeAssigned",
      policies: AzurePodIdentityPolicy[] = [],
    ) => [...federatedBound({ identities, bindings, policies, namespaces: [], clusterDefault }).values()];

    it("25 namespaces binding one identity: one entry", () => {
      const nss = Array.from({ length: 25 }, (_, i) => `team-${i}`);
      assert.deepEqual(
        run(
          nss.map((ns) => identity(ns, "shared", "Federated", idId("Shared"))),
          nss.map((ns) => binding(ns, "shared")),
        ),
        [idId("Shared")],
      );
    });
    it("spec.tokenSource wins over the cluster default, both ways", () => {
      assert.deepEqual(run([identity("a", "x", "NodeAssigned")], [binding("a", "x")], "Federated"), []);
      assert.deepEqual(run([identity("a", "x")], [binding("a", "x")], "Federated"), [idId("x")]);
      assert.deepEqual(run([identity("a", "x")], [binding("a", "x")], "NodeAssigned"), []);
    });
    it("an identity without a binding, or a binding naming an identity of another namespace, needs nothing", () => {
      assert.deepEqual(run([identity("a", "x", "Federated")], []), []);
      assert.deepEqual(run([identity("a", "x", "Federated")], [binding("b", "x")]), []);
    });
    it("attack: a namespace whose policy denies the identity cannot make podid trust itself for it", () => {
      const deny: AzurePodIdentityPolicy = {
        metadata: { name: "p", labels: {}, annotations: {} },
        namespaceSelector: {},
        enforcement: "Enforce",
        onUnmatchedLabel: "Deny",
        unlistedIdentities: "Allow",
        allowedIdentities: [{ resourceID: idId("mine") }],
      };
      const ids = [identity("a", "victim", "Federated"), identity("a", "mine", "Federated")];
      const bs = [binding("a", "victim"), binding("a", "mine")];
      assert.deepEqual(run(ids, bs, "NodeAssigned", [deny]), [idId("mine")]);
    });
  });

  describe("sourcedStatus: never a moment without a token source", () => {
    const node: AssignedStatus = { status: "Assigned", target: "/vmss" };
    const nodeCreated: AssignedStatus = { status: "Created", target: "/vmss" };
    const fed: AssignedStatus = { status: "Assigned", tokenSource: "Federated", target: "/cred" };
    const ready: CredentialState = { kind: "ready", id: "/cred" };
    const failed: CredentialState = { kind: "failed", reason: "FederatedCredentialLimit", message: "delete one" };
    const cases: Array<{
      name: string;
      source: TokenSourceName;
      nodeStatus: AssignedStatus;
      credential?: CredentialState;
      current?: AssignedStatus;
      expect: AssignedStatus;
    }> = [
      {
        name: "new federated pod, credential ready: Assigned at once",
        source: "Federated",
        nodeStatus: { status: "Created" },
        credential: ready,
        expect: fed,
      },
      {
        name: "new federated pod, credential pending: Created",
        source: "Federated",
        nodeStatus: { status: "Created" },
        credential: { kind: "pending" },
        expect: { status: "Created", tokenSource: "Federated" },
      },
      {
        name: "new federated pod, limit reached: Failed with the message",
        source: "Federated",
        nodeStatus: { status: "Created" },
        credential: failed,
        expect: {
          status: "Failed",
          reason: "FederatedCredentialLimit",
          message: "delete one",
          tokenSource: "Federated",
        },
      },
      {
        name: "to Federated, credential pending: stays on its node",
        source: "Federated",
        nodeStatus: node,
        credential: { kind: "pending" },
        current: node,
        expect: node,
      },
      {
        name: "to Federated, credential refused: stays on its node, saying why",
        source: "Federated",
        nodeStatus: node,
        credential: failed,
        current: node,
        expect: { ...node, reason: "FederatedCredentialLimit", message: "delete one" },
      },
      {
        name: "to Federated, credential ready: flips",
        source: "Federated",
        nodeStatus: node,
        credential: ready,
        current: node,
        expect: fed,
      },
      {
        name: "back to NodeAssigned, VM write not done: stays Federated",
        source: "NodeAssigned",
        nodeStatus: nodeCreated,
        credential: ready,
        current: fed,
        expect: fed,
      },
      {
        name: "back to NodeAssigned, VM write done: flips",
        source: "NodeAssigned",
        nodeStatus: node,
        credential: ready,
        current: fed,
        expect: node,
      },
      {
        name: "back to NodeAssigned, credential gone: the node's status",
        source: "NodeAssigned",
        nodeStatus: nodeCreated,
        current: fed,
        expect: nodeCreated,
      },
    ];
    for (const c of cases)
      it(c.name, () =>
        assert.deepEqual(
          sourcedStatus({
            nodeStatus: c.nodeStatus,
            source: c.source,
            credential: c.credential,
            current: c.current,
            unverified: false,
          }),
          c.expect,
        ),
      );
    it("an unverified ClientID serves nothing either way", () => {
      const failedCheck: AssignedStatus = { status: "Failed", reason: "ClientIDMismatch" };
      assert.deepEqual(
        sourcedStatus({
          nodeStatus: failedCheck,
          source: "Federated",
          credential: ready,
          current: undefined,
          unverified: true,
        }),
        failedCheck,
      );
    });
    it("keepsNode and reliesOnCredential follow the AzureAssignedIdentity, not the wish", () => {
      assert.equal(keepsNode("Federated", node), true);
      assert.equal(keepsNode("Federated", fed), false);
      assert.equal(keepsNode("Federated", undefined), false);
      assert.equal(keepsNode("NodeAssigned", fed), true);
      assert.equal(reliesOnCredential("NodeAssigned", fed), true);
      assert.equal(reliesOnCredential("NodeAssigned", node), false);
      assert.equal(reliesOnCredential("Federated", undefined), true);
    });
  });

  it("messages a person can act on: the limit, and a missing credential naming issuer and subject", () => {
    const limit = refusedCredential(idId("x"), "FederatedIdentityCredentialsLimitExceeded", "maximum of 20");
    assert.equal(limit.kind === "failed" && limit.reason, "FederatedCredentialLimit");
    assert.match(
      limit.kind === "failed" ? limit.message : "",
      /maximum of 20 .*Delete one .*tokenSource: NodeAssigned/,
    );
    const other = refusedCredential(idId("x"), "AuthorizationFailed", "no write");
    assert.equal(other.kind === "failed" && other.reason, "FederatedCredentialRejected");
    assert.match(other.kind === "failed" ? other.message : "", /needs Managed Identity Contributor/);
    const missing = missingCredential(idId("x"), want, undefined);
    assert.equal(missing.kind === "failed" && missing.reason, "FederatedCredentialMissing");
    assert.match(
      missing.kind === "failed" ? missing.message : "",
      new RegExp(
        `create podid-nmi with issuer ${ISSUER} , subject system:serviceaccount:podid-system:podid-nmi`.replace(
          " ,",
          ",",
        ),
      ),
    );
    const wrong = missingCredential(idId("x"), want, { id: "i", name: "podid-nmi", ...want, issuer: "https://old" });
    assert.match(wrong.kind === "failed" ? wrong.message : "", /with issuer https:\/\/old/);
  });

  it("the issuer from the discovery document: kept exactly, https only", () => {
    assert.equal(issuerFromDiscovery({ issuer: ISSUER, jwks_uri: "x" }), ISSUER);
    assert.throws(() => issuerFromDiscovery({ jwks_uri: "x" }), /no "issuer"/);
    assert.throws(() => issuerFromDiscovery({ issuer: "http://kubernetes.default.svc" }), /must be an https URL/);
  });

  describe("flags", () => {
    const parse = (args: string[]) => {
      const cmd = reconcilerCommand()
        .exitOverride()
        .configureOutput({ writeErr: () => undefined });
      cmd.action(() => undefined);
      cmd.parse(["node", "reconciler", ...args]);
      return cmd.opts();
    };
    it("defaults: NodeAssigned, issuer discovered, credentials managed", () => {
      const o = parse([]);
      assert.equal(o.defaultTokenSource, "NodeAssigned");
      assert.equal(o.federationIssuer, undefined);
      assert.equal(o.manageFederatedCredentials, true);
    });
    it("accepts the values", () => {
      const o = parse([
        "--default-token-source=Federated",
        "--federation-issuer",
        ISSUER,
        "--manage-federated-credentials=false",
      ]);
      assert.equal(o.defaultTokenSource, "Federated");
      assert.equal(o.federationIssuer, ISSUER);
      assert.equal(o.manageFederatedCredentials, false);
    });
    const bad: Array<[string[], RegExp]> = [
      [
        ["--default-token-source=federated"],
        /--default-token-source expects NodeAssigned or Federated, got "federated"/,
      ],
      [["--federation-issuer=http://x"], /--federation-issuer must be an https URL/],
      [["--federation-issuer=not a url"], /--federation-issuer expects the cluster's issuer URL/],
      [["--manage-federated-credentials=yes"], /--manage-federated-credentials expects true or false, got "yes"/],
    ];
    for (const [args, message] of bad)
      it(`refuses ${args.join(" ")}, naming the flag`, () => assert.throws(() => parse(args), message));
  });
});
