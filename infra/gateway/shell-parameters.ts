/*
 * The gateway's bash scripts are real files (./scripts) that read their parameters from readonly variables. The only
 * thing rendered into a script is the block that assigns them, in place of its marker line, so the program itself
 * reaches the VM exactly as shellcheck saw it in the repository.
 */

/** The line of a script file that the rendered parameter block replaces; it must appear exactly once. */
export const SHELL_PARAMETERS_MARKER = "# @parameters";

/** One readonly variable of a script: a string or number, or a bash array of strings. */
export interface ShellParameter {
  /** Upper case, so shellcheck reads an unassigned one in the script file as coming from outside (no SC2154). */
  readonly name: string;
  readonly value: string | number | readonly string[];
  /** One line written above the assignment, for whoever reads the script on the VM. */
  readonly comment?: string;
}

/** Quotes a value for bash: plain words stay as they are, anything else is single-quoted. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function shellValue(parameter: ShellParameter): string {
  const value = parameter.value;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`shell parameter ${parameter.name} must be an integer, got ${value}`);
    return String(value);
  }
  if (typeof value === "string") return shellQuote(value);
  return `(${value.map(shellQuote).join(" ")})`;
}

/** The `readonly NAME=value` lines, each preceded by its comment. */
export function renderShellParameters(parameters: readonly ShellParameter[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const parameter of parameters) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(parameter.name)) throw new Error(`shell parameter name ${JSON.stringify(parameter.name)} is not UPPER_CASE`);
    if (seen.has(parameter.name)) throw new Error(`shell parameter ${parameter.name} is given twice`);
    seen.add(parameter.name);
    if (parameter.comment !== undefined) {
      // A newline would end the comment and run the rest as code.
      if (/[\r\n]/.test(parameter.comment)) throw new Error(`comment of shell parameter ${parameter.name} must be one line`);
      lines.push(`# ${parameter.comment}`);
    }
    lines.push(`readonly ${parameter.name}=${shellValue(parameter)}`);
  }
  return lines.map((line) => `${line}\n`).join("");
}

/** The script with its marker line replaced by the parameter block; the rest of the file is left byte for byte. */
export function withShellParameters(script: string, parameters: readonly ShellParameter[]): string {
  const lines = script.split("\n");
  const at = lines.indexOf(SHELL_PARAMETERS_MARKER);
  if (at < 0 || lines.indexOf(SHELL_PARAMETERS_MARKER, at + 1) >= 0) {
    throw new Error(`a parameterised script must hold the line ${JSON.stringify(SHELL_PARAMETERS_MARKER)} exactly once`);
  }
  const block = renderShellParameters(parameters).replace(/\n$/, "");
  return [...lines.slice(0, at), ...(block === "" ? [] : [block]), ...lines.slice(at + 1)].join("\n");
}
