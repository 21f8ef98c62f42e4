/** The install_verified shell function of a rendered bootstrap script (the download check), or "" when absent. */
export function installFunctionOf(script: string): string {
  return /^install_verified\(\) \{\n[\s\S]*?\n\}\n/m.exec(script)?.[0] ?? "";
}
