import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { run, runOk } from "./sys";

const SOURCES = join(__dirname, "load");

function goTool(): string {
  for (const candidate of ["go", "/usr/local/go/bin/go"]) {
    if (run("sh", ["-c", 'command -v "$1"', "sh", candidate]).status === 0) return candidate;
  }
  throw new Error("the bench needs Go (https://go.dev/dl) to build its UDP sender: install it or put `go` on PATH");
}

/** The Go version that builds the sender, for the machine line. */
export function goVersion(): string {
  return runOk(goTool(), ["env", "GOVERSION"]).trim();
}

/**
 * Builds the UDP sender (bench/load) once per source content into a cache outside the repository, next to the
 * lab's and the offline toolchain's (IOT_UDP_INGRESS_CACHE, default ~/.cache/iot-udp-ingress).
 */
export function buildLoadTool(): string {
  const files = readdirSync(SOURCES).filter((f) => f.endsWith(".go") || f === "go.mod").sort();
  const hash = createHash("sha256");
  for (const f of files) hash.update(f).update("\0").update(readFileSync(join(SOURCES, f))).update("\0");
  const cacheRoot = process.env.IOT_UDP_INGRESS_CACHE ?? join(homedir(), ".cache", "iot-udp-ingress");
  const dir = join(cacheRoot, "bench", hash.digest("hex").slice(0, 16));
  const binary = join(dir, "bench-load");
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const partial = `${binary}.${process.pid}.tmp`;
    runOk(goTool(), ["-C", SOURCES, "build", "-trimpath", "-o", partial, "."], undefined, { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" });
    renameSync(partial, binary);
  }
  return binary;
}
