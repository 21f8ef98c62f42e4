/**
 * Envoy's API protos (as shipped in @grpc/grpc-js-xds/deps) loaded with protobufjs, keeping the
 * proto field names. Types referenced only through google.protobuf.Any are loaded on demand from
 * the directory their package names.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const DEPS_DIR = path.join(REPO_ROOT, "node_modules/@grpc/grpc-js-xds/deps");
const PROTOBUFJS_DIR = path.join(REPO_ROOT, "node_modules/protobufjs");
const INCLUDE_DIRS = ["envoy-api", "xds", "protoc-gen-validate", "googleapis"].map((d) => path.join(DEPS_DIR, d));

const ENTRY_PROTOS = ["envoy/config/bootstrap/v3/bootstrap.proto", "envoy/service/discovery/v3/discovery.proto"];

function assertProtosInstalled(): void {
  const missing = INCLUDE_DIRS.filter((dir) => !fs.existsSync(dir));
  if (missing.length > 0) {
    throw new Error(
      `Envoy API protos not found (${missing.join(", ")}): run \`npm ci\` to install the devDependency @grpc/grpc-js-xds, which ships them`,
    );
  }
}

function resolveImport(origin: string, target: string): string | null {
  if (target.startsWith("google/protobuf/")) {
    // protobufjs bundles the well-known types; descriptor.proto is the one it ships as a file.
    const bundled = path.join(PROTOBUFJS_DIR, target);
    return fs.existsSync(bundled) ? bundled : target;
  }
  for (const dir of INCLUDE_DIRS) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return protobuf.util.path.resolve(origin, target);
}

function newRoot(): protobuf.Root {
  assertProtosInstalled();
  const root = new protobuf.Root();
  root.resolvePath = resolveImport;
  root.loadSync(ENTRY_PROTOS, { keepCase: true });
  root.resolveAll();
  return root;
}

let cachedRoot: protobuf.Root | undefined;

export function envoyProtoRoot(): protobuf.Root {
  cachedRoot ??= newRoot();
  return cachedRoot;
}

function lookupType(root: protobuf.Root, name: string): protobuf.Type | undefined {
  const found = root.lookup(name.startsWith(".") ? name : `.${name}`);
  return found instanceof protobuf.Type ? found : undefined;
}

/** Proto package of a message name: the leading lower-case segments (envoy.config.core.v3.Address -> envoy/config/core/v3). */
function packageDirOf(typeName: string): string {
  const segments = typeName.replace(/^\./, "").split(".");
  const firstTypeSegment = segments.findIndex((s) => /^[A-Z]/.test(s));
  return segments.slice(0, firstTypeSegment < 0 ? segments.length : firstTypeSegment).join("/");
}

function loadPackageDir(root: protobuf.Root, typeName: string): void {
  const dir = packageDirOf(typeName);
  for (const include of INCLUDE_DIRS) {
    const abs = path.join(include, dir);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) continue;
    const files = fs.readdirSync(abs).filter((f) => f.endsWith(".proto")).map((f) => `${dir}/${f}`);
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
  }
}

/** The message type of that full name, loading its package if it is not loaded yet. */
export function findEnvoyType(typeName: string): protobuf.Type | undefined {
  const root = envoyProtoRoot();
  const loaded = lookupType(root, typeName);
  if (loaded) return loaded;
  loadPackageDir(root, typeName);
  return lookupType(root, typeName);
}
