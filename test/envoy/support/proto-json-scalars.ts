/** Proto3 JSON mapping of scalar values, checked strictly (what Envoy's JSON/YAML loader accepts). */

export type ScalarType =
  | "double" | "float"
  | "int32" | "sint32" | "sfixed32" | "uint32" | "fixed32"
  | "int64" | "sint64" | "sfixed64" | "uint64" | "fixed64"
  | "bool" | "string" | "bytes";

export type ScalarResult = { ok: true; value: number | boolean | string } | { ok: false; message: string };

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]{3})?$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;

function parseInteger(type: string, value: unknown): ScalarResult {
  let big: bigint;
  if (typeof value === "number" && Number.isInteger(value)) big = BigInt(value);
  else if (typeof value === "string" && /^-?\d+$/.test(value)) big = BigInt(value);
  else return { ok: false, message: `expected ${type} (integer), got ${JSON.stringify(value)}` };
  const [min, max] = INTEGER_RANGES[type] as [bigint, bigint];
  if (big < min || big > max) return { ok: false, message: `${String(value)} is out of range for ${type}` };
  return { ok: true, value: Number(big) };
}

function parseFloating(type: string, value: unknown): ScalarResult {
  if (typeof value === "number") return { ok: true, value };
  if (value === "NaN" || value === "Infinity" || value === "-Infinity") return { ok: true, value: Number(value) };
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return { ok: true, value: Number(value) };
  return { ok: false, message: `expected ${type} (number), got ${JSON.stringify(value)}` };
}

export function parseScalar(type: string, value: unknown): ScalarResult {
  if (type in INTEGER_RANGES) return parseInteger(type, value);
  switch (type) {
    case "double":
    case "float":
      return parseFloating(type, value);
    case "bool":
      return typeof value === "boolean" ? { ok: true, value } : { ok: false, message: `expected bool, got ${JSON.stringify(value)}` };
    case "string":
      return typeof value === "string" ? { ok: true, value } : { ok: false, message: `expected string, got ${JSON.stringify(value)}` };
    case "bytes":
      return typeof value === "string" && (BASE64.test(value) || BASE64_URL.test(value))
        ? { ok: true, value }
        : { ok: false, message: `expected base64 bytes, got ${JSON.stringify(value)}` };
    default:
      return { ok: false, message: `unknown scalar type ${type}` };
  }
}

/** Default value of an unset proto3 scalar, which PGV rules still apply to. */
export function scalarDefault(type: string): number | boolean | string {
  if (type === "bool") return false;
  if (type === "string" || type === "bytes") return "";
  return 0;
}

const DURATION = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315_576_000_000;

/** google.protobuf.Duration JSON ("1.5s") in nanoseconds. */
export function parseDuration(value: unknown): { ok: true; nanos: number } | { ok: false; message: string } {
  const match = typeof value === "string" ? DURATION.exec(value) : null;
  if (!match) return { ok: false, message: `expected a Duration string like "60s", got ${JSON.stringify(value)}` };
  const seconds = Number(match[2]);
  if (seconds > MAX_DURATION_SECONDS) return { ok: false, message: `Duration ${String(value)} is out of range` };
  const nanos = seconds * 1e9 + Number((match[3] ?? "").padEnd(9, "0"));
  return { ok: true, nanos: match[1] ? -nanos : nanos };
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function isTimestamp(value: unknown): boolean {
  return typeof value === "string" && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value));
}
