import assert from "node:assert/strict";
import { API_VERSION, KINDS, LIMITS } from "../../../src/model/constants.ts";

describe("model constants", () => {
  it("keep AAD Pod Identity's API group so manifests carry over", () => {
    assert.equal(API_VERSION, "aadpodidentity.k8s.io/v1");
    assert.equal(KINDS.AzureIdentityBinding.plural, "azureidentitybindings");
  });
  it("cap identities per ARM request at Resource Manager's limit", () => {
    assert.equal(LIMITS.identitiesPerArmRequest, 150);
  });
});
