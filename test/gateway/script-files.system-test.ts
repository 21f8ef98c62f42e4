import { run } from "../../harness/commands";
import { renderShellParameters, type ShellParameter } from "../../infra/gateway";

// The rendered shell parameters as bash reads them.

describe("shell parameters", () => {
  /** What bash holds after running the rendered block: `declare -p` of each name, one line each. */
  function inBash(parameters: readonly ShellParameter[]): string {
    const script = `${renderShellParameters(parameters)}declare -p ${parameters.map((p) => p.name).join(" ")}\n`;
    const result = run("bash", ["-c", script]);
    expect(result.stderr).toBe("");
    return result.stdout;
  }

  it("reach bash unchanged: quotes, spaces, dollars, backslashes, newlines and arrays", () => {
    const awkward = `it's $HOME "quoted" \\ back\nand a second line; $(echo not run) %s`;
    const result = run("bash", [
      "-c",
      `${renderShellParameters([
        { name: "TEXT", value: awkward },
        { name: "WORDS", value: ["a b", "it's", "$x", ""] },
        { name: "COUNT", value: 42 },
      ])}printf '%s\\n' "$TEXT"; printf '<%s>' "\${WORDS[@]}"; echo; echo "$COUNT"`,
    ]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`${awkward}\n<a b><it's><$x><>\n42\n`);
    expect(inBash([{ name: "PLAIN", value: "/usr/bin/jq" }])).toBe('declare -r PLAIN="/usr/bin/jq"\n');
  });
});
