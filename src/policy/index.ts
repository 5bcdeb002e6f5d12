// Pure decisions shared by the webhook, the reconciler and the NMI.
export { matchesLabelSelector, matchesAllLabels, globMatch } from "./selector.ts";
export {
  effectivePolicy,
  exceptionsAllowed,
  identityAllowed,
  identityMatches,
  identityViolations,
  type EffectivePolicy,
  type IdentityConstraint,
  type IdentityViolation,
} from "./effective.ts";
export {
  decidePod,
  exceptionApplies,
  isExcepted,
  podSelector,
  type PodAdmissionInput,
  type PodDecision,
  type DecisionReason,
  type Verdict,
} from "./decide.ts";
export { messages, describeAllowed, describeIdentity } from "./messages.ts";
export {
  claimsFor,
  formatAdmittedIdentities,
  loadAdmissionKeys,
  markIdentity,
  markVersion,
  parseAdmissionKeys,
  parseAdmittedIdentities,
  signAdmissionMark,
  verifyAdmissionMark,
  type AdmissionKeys,
  type MarkClaims,
  type MarkIdentity,
} from "./admission-mark.ts";
export { checkPodMark, isAdmitted, podNmiMode, type PodMarkInput, type PodMarkResult } from "./pod-mark.ts";
