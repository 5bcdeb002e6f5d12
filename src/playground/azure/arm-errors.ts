// Resource Manager's error responses, built in one place. Codes and messages follow what ARM
// and the compute resource provider really return (quoted in issues and SDK logs), so clients
// that branch on `RestError.code` see the same values here as in Azure.

export interface ArmErrorBody {
  error: {
    code: string;
    message: string;
    target?: string;
    details?: Array<{ code: string; target?: string; message: string }>;
  };
}

export interface ArmError {
  status: number;
  body: ArmErrorBody;
  headers?: Record<string, string>;
}

function armError(status: number, code: string, message: string, extra: Partial<ArmErrorBody["error"]> = {}): ArmError {
  return { status, body: { error: { code, message, ...extra } } };
}

export const armErrors = {
  missingToken: (): ArmError => ({
    ...armError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."),
    headers: {
      "www-authenticate":
        'Bearer error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
    },
  }),
  invalidToken: (why: string): ArmError => ({
    ...armError(401, "InvalidAuthenticationToken", `The access token is invalid. ${why}`),
    headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="The access token is invalid."' },
  }),
  wrongAudience: (aud: string, allowed: readonly string[]): ArmError => ({
    ...armError(
      401,
      "InvalidAuthenticationTokenAudience",
      `The access token has been obtained for wrong audience or resource '${aud}'. ` +
        `It should exactly match with one of the allowed audiences ${allowed.map((a) => `'${a}'`).join(",")}.`,
    ),
    headers: {
      "www-authenticate":
        'Bearer error="invalid_token", error_description="The access token has been obtained for wrong audience or resource."',
    },
  }),
  expiredToken: (exp: Date, now: Date): ArmError => ({
    ...armError(
      401,
      "ExpiredAuthenticationToken",
      `The access token expiry UTC time '${exp.toUTCString()}' is earlier than current UTC time '${now.toUTCString()}'.`,
    ),
    headers: {
      "www-authenticate":
        'Bearer error="invalid_token", error_description="The access token expiry UTC time is earlier than current UTC time."',
    },
  }),
  resourceGroupNotFound: (rg: string): ArmError =>
    armError(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`),
  resourceNotFound: (type: string, name: string, rg: string): ArmError =>
    armError(
      404,
      "ResourceNotFound",
      `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details ` +
        `please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
  entityNotFound: (): ArmError => armError(404, "NotFound", "The entity was not found in this Azure location."),
  missingApiVersion: (): ArmError =>
    armError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
    ),
  invalidBody: (message: string, target?: string): ArmError =>
    armError(
      400,
      "InvalidRequestContent",
      `The request content was invalid and could not be deserialized: ${message}`,
      target ? { target } : {},
    ),
  invalidParameter: (message: string, target: string): ArmError =>
    armError(400, "InvalidParameter", message, { target }),
  identityNotFound: (resourceId: string, identity: string): ArmError =>
    failedIdentityOperation(
      resourceId,
      "NotFound",
      JSON.stringify({ error: { code: "NotFound", message: `Resource '${identity}' was not found.` } }),
    ),
  tooManyIdentities: (resourceId: string, count: number, limit: number): ArmError =>
    failedIdentityOperation(
      resourceId,
      "BadRequest",
      JSON.stringify({
        error: {
          code: "BadRequest",
          message: `User Assigned Identities Number '${count}' Assign exceed limit '${limit}' in one request.`,
        },
      }),
    ),
  conflict: (): ArmError =>
    armError(
      409,
      "Conflict",
      "The request failed due to conflict with a concurrent request. To resolve it, please refer " +
        "to https://aka.ms/activitylog to get more details on the conflicting requests.",
    ),
  throttled: (
    group: string,
    retryAfterSeconds: number,
    window: { start: Date; end: Date; allowed: number; measured: number },
  ): ArmError => ({
    ...armError(
      429,
      "OperationNotAllowed",
      "The server rejected the request because too many requests have been received for this subscription.",
      {
        details: [
          {
            code: "TooManyRequests",
            target: group,
            message: JSON.stringify({
              operationGroup: group,
              startTime: window.start.toISOString(),
              endTime: window.end.toISOString(),
              allowedRequestCount: window.allowed,
              measuredRequestCount: window.measured,
            }),
          },
        ],
      },
    ),
    headers: { "retry-after": String(retryAfterSeconds) },
  }),
  /** Resource Manager's 403 when the caller's role assignments do not grant the action on the scope. */
  authorizationFailed: (client: string, objectId: string, action: string, scope: string): ArmError =>
    armError(
      403,
      "AuthorizationFailed",
      `The client '${client}' with object id '${objectId}' does not have authorization to perform ` +
        `action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, ` +
        `please refresh your credentials.`,
    ),
  /** Verified: the code and text Resource Manager returns (quoted in Bicep, Terraform and CAPZ issues). */
  concurrentCredentialWrites: (identityId: string): ArmError =>
    armError(
      409,
      "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
      `Too many Federated Identity Credentials are written concurrently for the managed identity ` +
        `'${identityId.toLowerCase()}'. Concurrent Federated Identity Credentials writes under the same ` +
        `managed identity are not supported.`,
    ),
  /** Verified text (Bicep issues); the status and code are an assumption. */
  duplicateIssuerSubject: (): ArmError =>
    armError(400, "BadRequest", "Issuer and subject combination already exists for this Managed Identity."),
  /** Assumption: the limit (20) is documented; the code and text of its error were not found. */
  tooManyCredentials: (identityId: string, limit: number): ArmError =>
    armError(
      400,
      "FederatedIdentityCredentialsLimitExceeded",
      `The managed identity '${identityId.toLowerCase()}' already has the maximum of ${limit} Federated ` +
        `Identity Credentials. Delete one before adding another.`,
    ),
  /** Assumption: a plain 400 naming the property, as Resource Manager's validation errors do. */
  invalidCredential: (property: string, message: string): ArmError =>
    armError(400, "BadRequest", message, { target: `properties.${property}` }),
  methodNotAllowed: (method: string): ArmError =>
    armError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`),
  noRoute: (path: string): ArmError =>
    armError(404, "InvalidResourceType", `The resource type could not be found for the request path '${path}'.`),
};

function failedIdentityOperation(resourceId: string, status: string, response: string): ArmError {
  return armError(
    400,
    "FailedIdentityOperation",
    `Identity operation for resource '${resourceId}' failed with error 'Failed to perform resource ` +
      `identity operation. Status: '${status}'. Response: '${response}'.'.`,
  );
}
