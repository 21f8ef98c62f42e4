/**
 * The protoc-gen-validate (`validate.rules`) constraints Envoy enforces when it loads a config,
 * read from the reflected proto options. A rule this module does not implement is reported as a
 * problem rather than skipped, so an unchecked constraint cannot pass silently.
 */
import { isIP } from "node:net";

export type RuleSet = Readonly<Record<string, unknown>>;
export type Report = (message: string) => void;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const existing = out[key];
    out[key] = isRecord(existing) && isRecord(value) ? deepMerge(existing, value) : value;
  }
  return out;
}

/** Merged value of one option across protobufjs' parsedOptions entries. */
export function parsedOption(parsedOptions: readonly Record<string, unknown>[] | undefined, name: string): unknown {
  let merged: unknown;
  for (const entry of parsedOptions ?? []) {
    if (!(name in entry)) continue;
    const value = entry[name];
    merged = isRecord(merged) && isRecord(value) ? deepMerge(merged, value) : value;
  }
  return merged;
}

// ---- numbers -----------------------------------------------------------------------------------

function asNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") return Number(value);
  // A Duration bound; `gt {}` is the zero Duration.
  if (isRecord(value)) {
    return Number(value.seconds ?? 0) * 1e9 + Number(value.nanos ?? 0);
  }
  return NaN;
}

function checkRange(value: number, rules: RuleSet, show: (n: number) => string, report: Report): void {
  const lower = rules.gt !== undefined ? { v: asNumber(rules.gt), strict: true } : rules.gte !== undefined ? { v: asNumber(rules.gte), strict: false } : undefined;
  const upper = rules.lt !== undefined ? { v: asNumber(rules.lt), strict: true } : rules.lte !== undefined ? { v: asNumber(rules.lte), strict: false } : undefined;
  const aboveLower = !lower || (lower.strict ? value > lower.v : value >= lower.v);
  const belowUpper = !upper || (upper.strict ? value < upper.v : value <= upper.v);
  // PGV: an upper bound below the lower bound means "outside the range".
  const exclusive = lower !== undefined && upper !== undefined && upper.v < lower.v;
  const ok = exclusive ? aboveLower || belowUpper : aboveLower && belowUpper;
  if (!ok) {
    const parts = [
      lower ? `${lower.strict ? ">" : ">="} ${show(lower.v)}` : undefined,
      upper ? `${upper.strict ? "<" : "<="} ${show(upper.v)}` : undefined,
    ].filter(Boolean);
    report(`value ${show(value)} must be ${parts.join(exclusive ? " or " : " and ")}`);
  }
}

const NUMERIC_RULE_KEYS = new Set(["const", "lt", "lte", "gt", "gte", "in", "not_in", "ignore_empty"]);

export function checkNumericRules(value: number, rules: RuleSet, report: Report, show: (n: number) => string = String): void {
  if (rules.ignore_empty === true && value === 0) return;
  for (const key of Object.keys(rules)) if (!NUMERIC_RULE_KEYS.has(key)) report(`validator does not implement numeric rule "${key}"`);
  if (rules.const !== undefined && value !== asNumber(rules.const)) report(`value ${show(value)} must equal ${show(asNumber(rules.const))}`);
  checkRange(value, rules, show, report);
  const inList = Array.isArray(rules.in) ? rules.in.map(asNumber) : undefined;
  if (inList && !inList.includes(value)) report(`value ${show(value)} must be one of ${inList.map(show).join(", ")}`);
  const notIn = Array.isArray(rules.not_in) ? rules.not_in.map(asNumber) : undefined;
  if (notIn?.includes(value)) report(`value ${show(value)} must not be one of ${notIn.map(show).join(", ")}`);
}

export function showDurationNanos(nanos: number): string {
  return `${nanos / 1e9}s`;
}

// ---- strings -----------------------------------------------------------------------------------

const HEADER_REGEX: Record<string, { strict: RegExp; loose: RegExp }> = {
  HTTP_HEADER_NAME: { strict: /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/, loose: /^[^\0\n\r]+$/ },
  HTTP_HEADER_VALUE: { strict: /^[^\0-\x08\n-\x1f\x7f]*$/, loose: /^[^\0\n\r]*$/ },
};
const WELL_KNOWN_REGEX_BY_NUMBER = ["UNKNOWN", "HTTP_HEADER_NAME", "HTTP_HEADER_VALUE"];
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

type StringCheck = (value: string, rule: unknown, rules: RuleSet) => string | undefined;

const chars = (s: string): number => [...s].length;
const bytes = (s: string): number => Buffer.byteLength(s, "utf8");

const STRING_CHECKS: Record<string, StringCheck> = {
  const: (v, r) => (v === r ? undefined : `must equal "${String(r)}"`),
  len: (v, r) => (chars(v) === Number(r) ? undefined : `length must be ${String(r)} characters`),
  min_len: (v, r) => (chars(v) >= Number(r) ? undefined : `length must be at least ${String(r)} characters (got ${chars(v)})`),
  max_len: (v, r) => (chars(v) <= Number(r) ? undefined : `length must be at most ${String(r)} characters (got ${chars(v)})`),
  len_bytes: (v, r) => (bytes(v) === Number(r) ? undefined : `length must be ${String(r)} bytes`),
  min_bytes: (v, r) => (bytes(v) >= Number(r) ? undefined : `length must be at least ${String(r)} bytes`),
  max_bytes: (v, r) => (bytes(v) <= Number(r) ? undefined : `length must be at most ${String(r)} bytes`),
  prefix: (v, r) => (v.startsWith(String(r)) ? undefined : `must start with "${String(r)}"`),
  suffix: (v, r) => (v.endsWith(String(r)) ? undefined : `must end with "${String(r)}"`),
  contains: (v, r) => (v.includes(String(r)) ? undefined : `must contain "${String(r)}"`),
  not_contains: (v, r) => (v.includes(String(r)) ? `must not contain "${String(r)}"` : undefined),
  in: (v, r) => (Array.isArray(r) && r.includes(v) ? undefined : `must be one of ${JSON.stringify(r)}`),
  not_in: (v, r) => (Array.isArray(r) && r.includes(v) ? `must not be one of ${JSON.stringify(r)}` : undefined),
  pattern: (v, r) => (new RegExp(String(r)).test(v) ? undefined : `must match /${String(r)}/`),
  ip: (v, r) => (r !== true || isIP(v) !== 0 ? undefined : "must be an IP address"),
  ipv4: (v, r) => (r !== true || isIP(v) === 4 ? undefined : "must be an IPv4 address"),
  ipv6: (v, r) => (r !== true || isIP(v) === 6 ? undefined : "must be an IPv6 address"),
  hostname: (v, r) => (r !== true || HOSTNAME.test(v) ? undefined : "must be a hostname"),
  address: (v, r) => (r !== true || isIP(v) !== 0 || HOSTNAME.test(v) ? undefined : "must be an IP address or hostname"),
  uuid: (v, r) => (r !== true || UUID.test(v) ? undefined : "must be a UUID"),
  well_known_regex: (v, r, rules) => {
    const name = typeof r === "number" ? WELL_KNOWN_REGEX_BY_NUMBER[r] : String(r);
    const regex = name === undefined ? undefined : HEADER_REGEX[name];
    if (!regex) return `validator does not implement well_known_regex ${String(r)}`;
    return (rules.strict === false ? regex.loose : regex.strict).test(v) ? undefined : `must match well-known regex ${name}`;
  },
  strict: () => undefined, // modifies well_known_regex
  ignore_empty: () => undefined,
};

export function checkStringRules(value: string, rules: RuleSet, report: Report): void {
  if (rules.ignore_empty === true && value === "") return;
  for (const [key, rule] of Object.entries(rules)) {
    const check = STRING_CHECKS[key];
    const problem = check ? check(value, rule, rules) : `validator does not implement string rule "${key}"`;
    if (problem) report(`"${value}" ${problem}`);
  }
}

// ---- other kinds -------------------------------------------------------------------------------

export function checkBoolRules(value: boolean, rules: RuleSet, report: Report): void {
  for (const key of Object.keys(rules)) if (key !== "const") report(`validator does not implement bool rule "${key}"`);
  if (rules.const !== undefined && value !== rules.const) report(`value ${String(value)} must be ${String(rules.const)}`);
}

export function checkEnumRules(number: number, name: string, defined: boolean, rules: RuleSet, report: Report): void {
  const known = new Set(["defined_only", "const", "in", "not_in"]);
  for (const key of Object.keys(rules)) if (!known.has(key)) report(`validator does not implement enum rule "${key}"`);
  if (rules.defined_only === true && !defined) report(`enum value ${name} is not defined`);
  if (rules.const !== undefined && number !== Number(rules.const)) report(`enum value ${name} must be ${String(rules.const)}`);
  if (Array.isArray(rules.in) && !rules.in.map(Number).includes(number)) report(`enum value ${name} is not allowed`);
  if (Array.isArray(rules.not_in) && rules.not_in.map(Number).includes(number)) report(`enum value ${name} is not allowed`);
}

export function checkItemCount(count: number, rules: RuleSet, noun: "items" | "pairs", report: Report): void {
  if (rules.ignore_empty === true && count === 0) return;
  const min = rules[`min_${noun}`];
  const max = rules[`max_${noun}`];
  if (min !== undefined && count < Number(min)) report(`must have at least ${String(min)} ${noun} (got ${count})`);
  if (max !== undefined && count > Number(max)) report(`must have at most ${String(max)} ${noun} (got ${count})`);
}

export const REPEATED_RULE_KEYS = new Set(["min_items", "max_items", "unique", "items", "ignore_empty"]);
export const MAP_RULE_KEYS = new Set(["min_pairs", "max_pairs", "no_sparse", "keys", "values", "ignore_empty"]);
