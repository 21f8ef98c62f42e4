/**
 * Building the repository's small Go programs (the lab's stand-ins, the bench's UDP sender) once per source content
 * and Go version, into a cache outside the repository: IOT_UDP_INGRESS_CACHE, default ~/.cache/iot-udp-ingress, the
 * same root as the Pulumi toolchain's (tools/pulumi/build.sh).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { run, runOk } from "./commands";

/** The go program: `go` on PATH, else the official tarball's /usr/local/go/bin/go; `purpose` goes into the error. */
export function goTool(purpose = "build its Go programs"): string {
  for (const candidate of ["go", "/usr/local/go/bin/go"]) {
    try {
      if (run(candidate, ["version"]).status === 0) return candidate;
    } catch {
      /* not there: try the next */
    }
  }
  throw new Error(`this needs Go (https://go.dev/dl) to ${purpose}: install it or put \`go\` on PATH`);
}

/** The Go version that builds the programs (`go env GOVERSION`). */
export function goVersion(purpose?: string): string {
  return runOk(goTool(purpose), ["env", "GOVERSION"]).trim();
}

export interface GoBuildOptions {
  /** The cache's subdirectory ("lab", "bench"). */
  readonly cache: string;
  /** The binary's file name; default: the module directory's name. */
  readonly binary?: string;
  /** For the error when Go is missing: what the build is for. */
  readonly purpose?: string;
  /** Environment of `go build`; default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Builds the Go module in `dir` (its .go files and go.mod; no dependencies outside the standard library) into
 * `<cache root>/<options.cache>/<hash>/<binary>`, the hash taken over the sources and the Go version, unless that
 * binary exists already; returns its path. The binary is renamed into place, so a killed build leaves none.
 */
export function buildGoModule(dir: string, options: GoBuildOptions): string {
  const go = goTool(options.purpose);
  const files = readdirSync(dir).filter((f) => f.endsWith(".go") || f === "go.mod" || f === "go.sum").sort();
  const hash = createHash("sha256").update(runOk(go, ["env", "GOVERSION"]).trim()).update("\0");
  for (const f of files) hash.update(f).update("\0").update(readFileSync(join(dir, f))).update("\0");
  const cacheRoot = process.env.IOT_UDP_INGRESS_CACHE ?? join(homedir(), ".cache", "iot-udp-ingress");
  const out = join(cacheRoot, options.cache, hash.digest("hex").slice(0, 16));
  const binary = join(out, options.binary ?? basename(dir));
  if (!existsSync(binary)) {
    mkdirSync(out, { recursive: true });
    const partial = `${binary}.${process.pid}.tmp`;
    runOk(go, ["-C", dir, "build", "-trimpath", "-o", partial, "."], undefined, { env: options.env ?? process.env });
    renameSync(partial, binary);
  }
  return binary;
}
