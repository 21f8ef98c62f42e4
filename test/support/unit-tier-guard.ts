/**
 * The unit tier (`npm test`) runs no program but Node itself: no shell, no Debian tool, no root. Every test that runs
 * one belongs in a *.system-test.ts file (`npm run test:system`). This setup file (jest.config.js `setupFiles`) makes
 * a test that tries anyway fail at once, naming the program, on every machine, not only on one without the tool.
 */
// The module object itself (not an ES namespace copy), so that every caller of child_process sees the guard.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const childProcess = require("node:child_process") as Record<string, unknown>;

const NODE = new Set([process.execPath, "node"]);

function refuse(command: string): never {
  throw new Error(
    `the unit tier runs no system tools, but a test ran '${command}': move it to a *.system-test.ts file (npm run test:system, test/system/jest.config.js)`,
  );
}

for (const name of ["spawn", "spawnSync", "execFile", "execFileSync"]) {
  const original = childProcess[name] as (...args: unknown[]) => unknown;
  childProcess[name] = function guarded(this: unknown, command: unknown, ...rest: unknown[]): unknown {
    if (typeof command !== "string" || !NODE.has(command)) refuse(String(command));
    return original.call(this, command, ...rest);
  };
}
for (const name of ["exec", "execSync"]) {
  childProcess[name] = (command: unknown): never => refuse(`sh -c ${String(command)}`);
}
