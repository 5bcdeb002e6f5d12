// The seed article's manifests, with only its placeholders filled in (the playground's
// identity, resource ID and client ID, and the app's selector), and the objects the story adds.
import { BINDING_LABEL } from "../../model/constants.ts";

export interface SeedValues {
  identityName: string;
  resourceId: string;
  clientId: string;
  selector: string;
}

/** Steps 3 and 4 of the seed, field spellings untouched (`ResourceID`, `ClientID`, `AzureIdentity`, `Selector`). */
export function seedIdentityAndBinding(v: SeedValues): string {
  return `apiVersion: "aadpodidentity.k8s.io/v1"
kind: AzureIdentity
metadata:
  name: ${v.identityName}
spec:
  type: 0
  ResourceID: ${v.resourceId}
  ClientID: ${v.clientId}
---
apiVersion: "aadpodidentity.k8s.io/v1"
kind: AzureIdentityBinding
metadata:
  name: myapp-azure-identity-binding
spec:
  AzureIdentity: ${v.identityName}
  Selector: ${v.selector}
`;
}

/** Step 6 of the seed: a Deployment whose pod template carries the label. */
export function labelledDeployment(name: string, selector: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
        ${BINDING_LABEL}: ${selector}
    spec:
      containers:
        - name: app
          image: example.azurecr.io/application-x:1.0
`;
}

/** A pod that copies another team's label (and, outside admission, its mark). */
export function borrowingPod(
  name: string,
  namespace: string,
  selector: string,
  annotations: Record<string, string> = {},
  env: Array<Record<string, unknown>> = [],
): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: name, [BINDING_LABEL]: selector }, annotations },
    spec: { containers: [{ name: "app", image: "example.azurecr.io/borrower:1.0", env }] },
  });
}

/** The seed's AzureIdentity with podid's `tokenSource` added (the binding untouched). */
export function withTokenSource(manifests: string, source: "NodeAssigned" | "Federated"): string {
  return manifests.replace(/^( {2}ClientID: .*)$/m, `$1\n  tokenSource: ${source}`);
}
