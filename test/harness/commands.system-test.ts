import { run } from "../../harness/commands";

/* harness/commands.ts with real programs: what a check gets back from run(). */

describe("run", () => {
  it("returns the status of a program that exits before reading all its input (no EPIPE thrown)", () => {
    // 8 MiB does not fit a pipe's buffer, so the write is still going on when bash has exited.
    const result = run("bash", ["-c", "echo refused >&2; exit 3"], "x".repeat(8 << 20));
    expect(result).toEqual({ status: 3, stdout: "", stderr: "refused\n" });
  });

  it("still throws when the program cannot be started, naming the package to install", () => {
    expect(() => run("no-such-program-iot", [])).toThrow("'no-such-program-iot' is not installed (or not on PATH)");
  });
});
