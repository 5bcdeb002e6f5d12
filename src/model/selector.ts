// metav1.LabelSelector, read as Kubernetes writes it (matchLabels, matchExpressions).
import { Errors, describe, getField, isObject, readStringMap } from "./read.ts";
import type { LabelSelector, LabelSelectorOperator, LabelSelectorRequirement } from "./types.ts";

const OPERATORS: readonly LabelSelectorOperator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

function readRequirement(v: unknown, path: string, errs: Errors): LabelSelectorRequirement | undefined {
  if (!isObject(v)) {
    errs.add(path, `expected an object with key, operator and values, got ${describe(v)}`);
    return undefined;
  }
  const key = getField(v, "key");
  const op = getField(v, "operator");
  const values = getField(v, "values");
  const operator = typeof op === "string" ? OPERATORS.find((o) => o.toLowerCase() === op.toLowerCase()) : undefined;
  let ok = true;
  if (typeof key !== "string" || key === "") {
    errs.add(`${path}.key`, `expected a label key, got ${describe(key)}`);
    ok = false;
  }
  if (operator === undefined) {
    errs.add(`${path}.operator`, `expected one of ${OPERATORS.join(", ")}, got ${describe(op)}`);
    ok = false;
  }
  let list: string[] | undefined;
  if (values !== undefined && values !== null) {
    if (
      !Array.isArray(values) ||
      !values.every((x) => typeof x === "string" || typeof x === "number" || typeof x === "boolean")
    ) {
      errs.add(`${path}.values`, `expected a list of strings, got ${describe(values)}`);
      ok = false;
    } else list = values.map(String);
  }
  if (operator === "In" || operator === "NotIn") {
    if (list === undefined || list.length === 0) {
      errs.add(`${path}.values`, `must be non-empty for operator ${operator}`);
      ok = false;
    }
  } else if (operator !== undefined && list !== undefined && list.length > 0) {
    errs.add(`${path}.values`, `must be empty for operator ${operator}`);
    ok = false;
  }
  if (!ok) return undefined;
  const req: LabelSelectorRequirement = { key: key as string, operator: operator! };
  if (list !== undefined && list.length > 0) req.values = list;
  return req;
}

/** A label selector; absent or null is the empty selector (matches everything). */
export function readLabelSelector(v: unknown, path: string, errs: Errors): LabelSelector {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    errs.add(path, `expected a label selector (matchLabels, matchExpressions), got ${describe(v)}`);
    return {};
  }
  const sel: LabelSelector = {};
  const ml = getField(v, "matchLabels");
  if (ml !== undefined && ml !== null) sel.matchLabels = readStringMap(ml, `${path}.matchLabels`, errs, true);
  const me = getField(v, "matchExpressions");
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) errs.add(`${path}.matchExpressions`, `expected a list, got ${describe(me)}`);
    else {
      const reqs: LabelSelectorRequirement[] = [];
      me.forEach((r, i) => {
        const req = readRequirement(r, `${path}.matchExpressions[${i}]`, errs);
        if (req !== undefined) reqs.push(req);
      });
      sel.matchExpressions = reqs;
    }
  }
  return sel;
}
