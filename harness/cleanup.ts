/**
 * A clean-up registry for a run that makes namespaces, processes and temporary directories (the bench): everything
 * registered is removed by `run()`, which is safe to call twice (on success, failure or signal). Namespaces are named
 * `<netnsPrefix>-<pid>-<role>` and directories `<tempPrefix>-<pid>-...`, so that `removeLeftovers()` recognises what
 * an earlier run left when it was killed outright (its namespaces' watchdogs, see netns.ts, usually got there first).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addNetns, deleteNetns, listNetns } from "./netns";

export interface CleanupNames {
  /** Namespaces are `<netnsPrefix>-<pid>-<role>`. */
  readonly netnsPrefix: string;
  /** Temporary directories are `<tempPrefix>-<pid>-<prefix>-XXXXXX` under the OS temporary directory. */
  readonly tempPrefix: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class Cleanup {
  private readonly namespaces: string[] = [];
  private readonly dirs: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly pids = new Set<number>();
  private done = false;

  constructor(readonly names: CleanupNames) {}

  /** A namespace `<netnsPrefix>-<pid>-<role>` with its loopback up and a watchdog (netns.ts addNetns), deleted at clean-up. */
  netns(role: string): string {
    const name = `${this.names.netnsPrefix}-${process.pid}-${role}`;
    addNetns(name);
    this.namespaces.push(name);
    return name;
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.names.tempPrefix}-${process.pid}-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** A child process, killed at clean-up unless it has exited by then. */
  track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** A process known by its pid only (LineProcess's onStart), killed at clean-up if it is still there. */
  trackPid(pid: number): void {
    this.pids.add(pid);
  }

  /** Deletes the namespaces and directories of earlier runs whose process is gone. */
  removeLeftovers(): void {
    const gone = (pid: number) => pid !== process.pid && !alive(pid);
    const netns = new RegExp(`^${this.names.netnsPrefix}-(\\d+)-`);
    for (const name of listNetns()) {
      const match = netns.exec(name);
      if (match !== null && gone(Number(match[1]))) deleteNetns(name);
    }
    const dir = new RegExp(`^${this.names.tempPrefix}-(\\d+)-`);
    for (const entry of readdirSync(tmpdir())) {
      const match = dir.exec(entry);
      if (match !== null && gone(Number(match[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
  }

  /** Ends this run's processes, deletes its namespaces and directories; safe to call twice. */
  run(): void {
    if (this.done) return;
    this.done = true;
    const pids = [...this.pids, ...[...this.children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => c.pid)];
    for (const pid of pids) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* exited meanwhile */
      }
    }
    for (const name of this.namespaces.reverse()) deleteNetns(name);
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}
