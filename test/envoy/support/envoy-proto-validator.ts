/**
 * Strict check of an Envoy config object (proto3 JSON form, as Envoy loads from YAML/JSON)
 * against Envoy's own API protos: every field name must exist on the reflected type (proto name
 * or JSON name), every value must have the field's JSON type, enums must name defined values,
 * `@type` of every google.protobuf.Any must resolve and its payload is checked recursively, and
 * the protoc-gen-validate rules Envoy enforces at load time are applied. Deprecated fields and
 * enum values are reported too: the project must not depend on them.
 *
 * protobufjs' own fromObject ignores unknown keys and knows neither the JSON mapping of the
 * well-known types nor PGV, hence this walker.
 */
import * as protobuf from "protobufjs";
import { findEnvoyType } from "./envoy-protos";
import {
  MAP_RULE_KEYS,
  REPEATED_RULE_KEYS,
  RuleSet,
  checkBoolRules,
  checkEnumRules,
  checkItemCount,
  checkNumericRules,
  checkStringRules,
  isRecord,
  parsedOption,
  showDurationNanos,
} from "./pgv-rules";
import { isTimestamp, parseDuration, parseScalar, scalarDefault } from "./proto-json-scalars";

export interface EnvoyProtoIssue {
  /** Location in the checked object, e.g. "static_resources.listeners[0].name". */
  path: string;
  message: string;
}

export class EnvoyProtoValidationError extends Error {
  constructor(
    readonly typeName: string,
    readonly issues: readonly EnvoyProtoIssue[],
  ) {
    super(`${typeName} is invalid:\n${issues.map((i) => `  ${i.path || "<root>"}: ${i.message}`).join("\n")}`);
    this.name = "EnvoyProtoValidationError";
  }
}

/** A checked value, in the form PGV rules compare. */
type Checked =
  | { kind: "scalar"; type: string; value: number | boolean | string }
  | { kind: "enum"; number: number; name: string; defined: boolean }
  | { kind: "duration"; nanos: number }
  | { kind: "any"; typeUrl: string }
  | { kind: "timestamp" }
  | { kind: "message" };

const WRAPPERS: Record<string, string> = {
  ".google.protobuf.DoubleValue": "double",
  ".google.protobuf.FloatValue": "float",
  ".google.protobuf.Int64Value": "int64",
  ".google.protobuf.UInt64Value": "uint64",
  ".google.protobuf.Int32Value": "int32",
  ".google.protobuf.UInt32Value": "uint32",
  ".google.protobuf.BoolValue": "bool",
  ".google.protobuf.StringValue": "string",
  ".google.protobuf.BytesValue": "bytes",
};

/** Well-known types whose JSON form is not an object of fields; in an Any they sit under "value". */
const SPECIAL_JSON_TYPES = new Set([
  ...Object.keys(WRAPPERS),
  ".google.protobuf.Duration",
  ".google.protobuf.Timestamp",
  ".google.protobuf.FieldMask",
  ".google.protobuf.Struct",
  ".google.protobuf.Value",
  ".google.protobuf.ListValue",
]);

const TYPE_URL_PREFIX = "type.googleapis.com/";

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

function fieldRules(field: protobuf.FieldBase): RuleSet {
  const rules = parsedOption(field.parsedOptions as Record<string, unknown>[] | undefined, "(validate.rules)");
  return isRecord(rules) ? rules : {};
}

function isDeprecated(options: Record<string, unknown> | undefined): boolean {
  return options?.deprecated === true;
}

function fieldByJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  return type.fields[key] ?? type.fieldsArray.find((f) => f.jsonName === key);
}

class Walker {
  readonly issues: EnvoyProtoIssue[] = [];

  report(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  message(type: protobuf.Type, value: unknown, path: string): Checked {
    const special = this.specialJson(type, value, path);
    if (special) return special;
    if (!isRecord(value)) {
      this.report(path, `expected an object for ${type.fullName.slice(1)}, got ${JSON.stringify(value)}`);
      return { kind: "message" };
    }
    const seen = this.fieldsOf(type, value, path);
    this.absentFields(type, seen, path);
    this.oneofs(type, seen, path);
    return { kind: "message" };
  }

  private fieldsOf(type: protobuf.Type, value: Record<string, unknown>, path: string): Set<protobuf.Field> {
    const seen = new Set<protobuf.Field>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const field = fieldByJsonKey(type, key);
      const fieldPath = join(path, key);
      if (!field) {
        this.report(fieldPath, `unknown field "${key}" in ${type.fullName.slice(1)}`);
        continue;
      }
      if (seen.has(field)) this.report(fieldPath, `field "${field.name}" is set twice`);
      if (fieldValue === null) continue; // proto3 JSON: null means "not set"
      seen.add(field);
      if (isDeprecated(field.options)) this.report(fieldPath, `field "${field.name}" is deprecated`);
      this.field(field, fieldValue, fieldPath);
    }
    return seen;
  }

  /** PGV applies scalar and repeated rules to unset proto3 fields too (as their default value). */
  private absentFields(type: protobuf.Type, seen: Set<protobuf.Field>, path: string): void {
    for (const field of type.fieldsArray) {
      if (seen.has(field) || field.partOf) continue;
      const rules = fieldRules(field);
      const fieldPath = join(path, field.name);
      if (this.requiredRule(rules)) this.report(fieldPath, `required field "${field.name}" is missing`);
      const sub = new Walker();
      if (field instanceof protobuf.MapField) sub.mapRules(rules, 0, fieldPath);
      else if (field.repeated) sub.repeatedCount(rules, 0, fieldPath);
      else if (field.resolvedType instanceof protobuf.Enum) sub.valueRules(rules, sub.enumValue(field.resolvedType, 0, fieldPath), fieldPath);
      else if (!field.resolvedType) sub.valueRules(rules, { kind: "scalar", type: field.type, value: scalarDefault(field.type) }, fieldPath);
      for (const issue of sub.issues) this.report(issue.path, `field "${field.name}" is not set, and its default fails: ${issue.message}`);
    }
  }

  private requiredRule(rules: RuleSet): boolean {
    return ["message", "duration", "any", "timestamp"].some((k) => {
      const r = rules[k];
      return isRecord(r) && r.required === true;
    });
  }

  private oneofs(type: protobuf.Type, seen: Set<protobuf.Field>, path: string): void {
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => seen.has(f));
      if (set.length > 1) this.report(path, `oneof "${oneof.name}" has more than one field set: ${set.map((f) => f.name).join(", ")}`);
      const required = oneof.options?.["(validate.required)"] === true || parsedOption(oneof.parsedOptions as Record<string, unknown>[] | undefined, "(validate.required)") === true;
      if (required && set.length === 0) {
        this.report(path, `oneof "${oneof.name}" is required: set one of ${oneof.fieldsArray.map((f) => f.name).join(", ")}`);
      }
    }
  }

  private field(field: protobuf.Field, value: unknown, path: string): void {
    const rules = fieldRules(field);
    if (field instanceof protobuf.MapField) return this.mapField(field, value, rules, path);
    if (field.repeated) return this.repeatedField(field, value, rules, path);
    const checked = this.singular(field, value, path);
    if (checked) this.valueRules(rules, checked, path);
  }

  private repeatedField(field: protobuf.Field, value: unknown, rules: RuleSet, path: string): void {
    if (!Array.isArray(value)) {
      this.report(path, `expected a list for repeated field "${field.name}", got ${JSON.stringify(value)}`);
      return;
    }
    this.repeatedCount(rules, value.length, path);
    const repeated = isRecord(rules.repeated) ? rules.repeated : {};
    const itemRules = isRecord(repeated.items) ? repeated.items : {};
    const checkedItems = value.map((item, i) => {
      const checked = this.singular(field, item, `${path}[${i}]`);
      if (checked) this.valueRules(itemRules, checked, `${path}[${i}]`);
      return checked;
    });
    if (repeated.unique === true) {
      const keys = checkedItems.map((c) => JSON.stringify(c));
      if (new Set(keys).size !== keys.length) this.report(path, "items must be unique");
    }
  }

  private repeatedCount(rules: RuleSet, count: number, path: string): void {
    if (!isRecord(rules.repeated)) return;
    for (const key of Object.keys(rules.repeated)) if (!REPEATED_RULE_KEYS.has(key)) this.report(path, `validator does not implement repeated rule "${key}"`);
    checkItemCount(count, rules.repeated, "items", (m) => this.report(path, m));
  }

  private mapRules(rules: RuleSet, count: number, path: string): void {
    if (!isRecord(rules.map)) return;
    for (const key of Object.keys(rules.map)) if (!MAP_RULE_KEYS.has(key)) this.report(path, `validator does not implement map rule "${key}"`);
    checkItemCount(count, rules.map, "pairs", (m) => this.report(path, m));
  }

  private mapField(field: protobuf.MapField, value: unknown, rules: RuleSet, path: string): void {
    if (!isRecord(value)) {
      this.report(path, `expected an object for map field "${field.name}", got ${JSON.stringify(value)}`);
      return;
    }
    this.mapRules(rules, Object.keys(value).length, path);
    const map = isRecord(rules.map) ? rules.map : {};
    for (const [key, item] of Object.entries(value)) {
      const itemPath = `${path}[${JSON.stringify(key)}]`;
      const keyValue = field.keyType === "string" ? key : key === "true" ? true : key === "false" ? false : key;
      const keyChecked = this.scalar(field.keyType, keyValue, itemPath);
      if (keyChecked && isRecord(map.keys)) this.valueRules(map.keys, keyChecked, itemPath);
      const checked = this.singular(field, item, itemPath);
      if (checked && isRecord(map.values)) this.valueRules(map.values, checked, itemPath);
    }
  }

  private singular(field: protobuf.FieldBase, value: unknown, path: string): Checked | undefined {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return this.enumJson(resolved, value, path);
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, path);
    return this.scalar(field.type, value, path);
  }

  private scalar(type: string, value: unknown, path: string): Checked | undefined {
    const parsed = parseScalar(type, value);
    if (!parsed.ok) {
      this.report(path, parsed.message);
      return undefined;
    }
    return { kind: "scalar", type, value: parsed.value };
  }

  private enumJson(enumType: protobuf.Enum, value: unknown, path: string): Checked | undefined {
    if (typeof value === "string") {
      const number = enumType.values[value];
      if (number === undefined) {
        this.report(path, `"${value}" is not a value of enum ${enumType.fullName.slice(1)} (${Object.keys(enumType.values).join(", ")})`);
        return undefined;
      }
      return this.enumValue(enumType, number, path);
    }
    if (typeof value === "number" && Number.isInteger(value)) return this.enumValue(enumType, value, path);
    this.report(path, `expected an enum name of ${enumType.fullName.slice(1)}, got ${JSON.stringify(value)}`);
    return undefined;
  }

  private enumValue(enumType: protobuf.Enum, number: number, path: string): Checked {
    const name = enumType.valuesById[number];
    if (name !== undefined && isDeprecated(enumType.valuesOptions?.[name])) this.report(path, `enum value ${name} is deprecated`);
    return { kind: "enum", number, name: name ?? String(number), defined: name !== undefined };
  }

  private specialJson(type: protobuf.Type, value: unknown, path: string): Checked | undefined {
    const name = type.fullName;
    const wrapped = WRAPPERS[name];
    if (wrapped) return this.scalar(wrapped, value, path) ?? { kind: "message" };
    switch (name) {
      case ".google.protobuf.Any":
        return this.any(value, path);
      case ".google.protobuf.Duration": {
        const parsed = parseDuration(value);
        if (parsed.ok) return { kind: "duration", nanos: parsed.nanos };
        this.report(path, parsed.message);
        return { kind: "message" };
      }
      case ".google.protobuf.Timestamp":
        if (!isTimestamp(value)) this.report(path, `expected an RFC 3339 timestamp, got ${JSON.stringify(value)}`);
        return { kind: "timestamp" };
      case ".google.protobuf.FieldMask":
        if (typeof value !== "string") this.report(path, `expected a FieldMask string, got ${JSON.stringify(value)}`);
        return { kind: "message" };
      case ".google.protobuf.Struct":
        if (!isRecord(value)) this.report(path, `expected an object for Struct, got ${JSON.stringify(value)}`);
        return { kind: "message" };
      case ".google.protobuf.ListValue":
        if (!Array.isArray(value)) this.report(path, `expected a list for ListValue, got ${JSON.stringify(value)}`);
        return { kind: "message" };
      case ".google.protobuf.Value":
        return { kind: "message" };
      default:
        return undefined;
    }
  }

  private any(value: unknown, path: string): Checked {
    const typePath = join(path, "@type");
    if (!isRecord(value) || typeof value["@type"] !== "string") {
      this.report(typePath, `google.protobuf.Any needs a string "@type", got ${JSON.stringify(value)}`);
      return { kind: "message" };
    }
    const typeUrl = value["@type"];
    const type = typeUrl.startsWith(TYPE_URL_PREFIX) ? findEnvoyType(typeUrl.slice(TYPE_URL_PREFIX.length)) : undefined;
    if (!type) {
      this.report(typePath, `"@type" ${typeUrl} does not name a known message (expected ${TYPE_URL_PREFIX}<full.message.Name>)`);
      return { kind: "any", typeUrl };
    }
    const { "@type": _ignored, ...payload } = value;
    if (SPECIAL_JSON_TYPES.has(type.fullName)) {
      const keys = Object.keys(payload);
      if (keys.length !== 1 || keys[0] !== "value") this.report(path, `an Any of ${type.fullName.slice(1)} must hold exactly "@type" and "value"`);
      this.message(type, payload.value, join(path, "value"));
    } else {
      this.message(type, payload, path);
    }
    return { kind: "any", typeUrl };
  }

  private valueRules(rules: RuleSet, checked: Checked, path: string): void {
    for (const [kind, kindRules] of Object.entries(rules)) {
      if (!isRecord(kindRules)) continue;
      this.kindRules(kind, kindRules, checked, (m) => this.report(path, m));
    }
  }

  private kindRules(kind: string, rules: RuleSet, checked: Checked, report: (m: string) => void): void {
    if (kind === "message") {
      for (const key of Object.keys(rules)) if (key !== "required" && key !== "skip") report(`validator does not implement message rule "${key}"`);
      return;
    }
    if (kind === "repeated" || kind === "map") return; // counted by the caller
    if (kind === "duration" && checked.kind === "duration") {
      const { required: _required, ...rest } = rules;
      return checkNumericRules(checked.nanos, rest, report, showDurationNanos);
    }
    if (kind === "any" && checked.kind === "any") return this.anyRules(rules, checked.typeUrl, report);
    if (kind === "enum" && checked.kind === "enum") return checkEnumRules(checked.number, checked.name, checked.defined, rules, report);
    if (kind === "timestamp" && checked.kind === "timestamp") {
      for (const key of Object.keys(rules)) if (key !== "required") report(`validator does not implement timestamp rule "${key}"`);
      return;
    }
    if (checked.kind === "scalar") return this.scalarRules(kind, rules, checked, report);
    if (checked.kind === "message" && ["duration", "any", "timestamp"].includes(kind)) return; // type error already reported
    report(`rule kind "${kind}" does not fit a value of kind ${checked.kind}`);
  }

  private scalarRules(kind: string, rules: RuleSet, checked: Extract<Checked, { kind: "scalar" }>, report: (m: string) => void): void {
    if (kind !== checked.type) {
      report(`rule kind "${kind}" does not fit a ${checked.type} value`);
      return;
    }
    if (typeof checked.value === "string" && kind === "string") return checkStringRules(checked.value, rules, report);
    if (typeof checked.value === "boolean") return checkBoolRules(checked.value, rules, report);
    if (typeof checked.value === "number") return checkNumericRules(checked.value, rules, report);
    report(`validator does not implement ${kind} rules`);
  }

  private anyRules(rules: RuleSet, typeUrl: string, report: (m: string) => void): void {
    for (const key of Object.keys(rules)) if (!["required", "in", "not_in"].includes(key)) report(`validator does not implement any rule "${key}"`);
    if (Array.isArray(rules.in) && !rules.in.includes(typeUrl)) report(`"@type" ${typeUrl} is not one of ${JSON.stringify(rules.in)}`);
    if (Array.isArray(rules.not_in) && rules.not_in.includes(typeUrl)) report(`"@type" ${typeUrl} is not allowed here`);
  }
}

/** Every problem found in `json` read as the message `typeName` (e.g. "envoy.config.bootstrap.v3.Bootstrap"). */
export function envoyMessageIssues(typeName: string, json: unknown): EnvoyProtoIssue[] {
  const type = findEnvoyType(typeName);
  if (!type) throw new Error(`${typeName} is not a message type in the Envoy API protos`);
  const walker = new Walker();
  walker.message(type, json, "");
  return walker.issues;
}

/** Throws EnvoyProtoValidationError listing every problem; returns quietly when `json` is valid. */
export function validateEnvoyMessage(typeName: string, json: unknown): void {
  const issues = envoyMessageIssues(typeName, json);
  if (issues.length > 0) throw new EnvoyProtoValidationError(typeName, issues);
}
