// @ts-check
"use strict";
/**
 * Atomic, change-only writes of the EDS file. Envoy watches the directory for files moved into
 * it, so the content goes to a temporary file in the same directory (same filesystem) and is
 * renamed over the target: Envoy never reads a half-written file, and an unchanged assignment
 * causes no write and no reload.
 */

const fs = require("node:fs");
const path = require("node:path");

/**
 * @param {string} filePath
 * @returns {string | undefined}
 */
function readIfExists(filePath) {
  try {
    return fs.readFileSync(filePath, "utf8");
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * @param {string} filePath
 * @param {string} content
 */
function writeAtomically(filePath, content) {
  const temporary = path.join(path.dirname(filePath), `.${path.basename(filePath)}.${process.pid}.tmp`);
  const fd = fs.openSync(temporary, "w", 0o644);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, filePath);
}

class EdsFile {
  /**
   * @param {string} filePath
   * @param {(content: string) => void} [onWrite] called after each write
   */
  constructor(filePath, onWrite) {
    this.filePath = filePath;
    this.onWrite = onWrite;
    // After a container restart the file from the previous run is still in the shared volume.
    this.current = readIfExists(filePath);
  }

  /**
   * Envoy refuses to start when the path_config_source file is missing, so an empty assignment is
   * written before the first list; an existing file from a previous run is kept as it is.
   * @param {string} content
   */
  ensureExists(content) {
    if (this.current === undefined) this.write(content);
  }

  /**
   * @param {string} content
   * @returns {boolean} whether the file was written
   */
  write(content) {
    if (content === this.current) return false;
    writeAtomically(this.filePath, content);
    this.current = content;
    this.onWrite?.(content);
    return true;
  }
}

module.exports = { EdsFile };
