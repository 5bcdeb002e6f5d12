// metav1.Status errors worded as the real apiserver words them: kubectl prints
// `Error from server (<reason>): <message>`, and client libraries branch on code and reason.
import { resourceKey, type ResourceDef } from "./types.ts";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    /** Extra response headers (admission warnings travel with denials too). */
    readonly warnings: string[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  toStatus(): Status {
    const s: Status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.reason === "") delete s.reason;
    if (this.details !== undefined) s.details = this.details;
    return s;
  }
}

type Res = Pick<ResourceDef, "group" | "plural" | "kind">;

const details = (r: Res, name: string): StatusDetails =>
  r.group === "" ? { name, kind: r.plural } : { name, group: r.group, kind: r.plural };

export const notFound = (r: Res, name: string): ApiError =>
  new ApiError(404, "NotFound", `${resourceKey(r)} "${name}" not found`, details(r, name));

export const alreadyExists = (r: Res, name: string): ApiError =>
  new ApiError(409, "AlreadyExists", `${resourceKey(r)} "${name}" already exists`, details(r, name));

export const conflict = (
  r: Res,
  name: string,
  why = "the object has been modified; please apply your changes to the latest version and try again",
): ApiError =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${resourceKey(r)} "${name}": ${why}`,
    details(r, name),
  );

export interface FieldError {
  field: string;
  /** FieldValueRequired, FieldValueInvalid, FieldValueForbidden, FieldValueNotSupported... */
  type:
    | "FieldValueRequired"
    | "FieldValueInvalid"
    | "FieldValueForbidden"
    | "FieldValueNotSupported"
    | "FieldValueDuplicate";
  /** The rendered detail, e.g. `Required value: name or generateName is required`. */
  detail: string;
}

/** 422 Invalid: `Pod "x" is invalid: metadata.name: Required value: ...` (several joined as `[a, b]`). */
export function invalid(r: Res, name: string, errors: FieldError[]): ApiError {
  const qualifiedKind = r.group === "" ? r.kind : `${r.kind}.${r.group}`;
  const parts = errors.map((e) => `${e.field}: ${e.detail}`);
  const joined = parts.length === 1 ? parts[0]! : `[${parts.join(", ")}]`;
  const d: StatusDetails = {
    name,
    kind: r.kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  };
  if (r.group !== "") d.group = r.group;
  return new ApiError(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${joined}`, d);
}

export const badRequest = (message: string): ApiError => new ApiError(400, "BadRequest", message);
export const forbidden = (message: string, d?: StatusDetails): ApiError => new ApiError(403, "Forbidden", message, d);
export const methodNotAllowed = (): ApiError =>
  new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
export const pathNotFound = (): ApiError =>
  new ApiError(404, "NotFound", "the server could not find the requested resource", {});
export const gone = (requested: number, oldest: number): ApiError =>
  new ApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
export const unauthorized = (): ApiError => new ApiError(401, "Unauthorized", "Unauthorized");
export const internalError = (message: string, causes?: StatusCause[]): ApiError =>
  new ApiError(
    500,
    "InternalError",
    `Internal error occurred: ${message}`,
    causes !== undefined ? { causes } : undefined,
  );
export const tooLarge = (limit: number): ApiError =>
  new ApiError(413, "RequestEntityTooLarge", `Request entity too large: limit is ${limit}`);
export const unsupportedMediaType = (contentType: string, accepted: string[]): ApiError =>
  new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    { causes: [{ reason: "UnexpectedServerResponse", message: contentType }] },
  );

export function successStatus(d?: StatusDetails): Status {
  const s: Status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 200 };
  if (d !== undefined) s.details = d;
  return s;
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internalError(message);
}
