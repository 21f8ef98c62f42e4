// Required by every jest config. Under CI with the output going to a file or a pipe, nothing may colour it: jest's
// own output already follows the terminal, but Babel's code frames (in a failure's report, and around a console
// call) count CI=... as colour support (picocolors) and write raw ANSI codes into the log unless FORCE_COLOR is 0.
// Set before jest starts its workers, so they inherit it.
if (process.env.CI && !process.stdout.isTTY && process.env.FORCE_COLOR === undefined) process.env.FORCE_COLOR = "0";
