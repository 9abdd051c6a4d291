// The exit statuses of the `sockprobe` command, one list for every command.

/** Every target is open, and ready when it has a check (probe, explain); the scan ran (scan); help or version was printed. */
export const EXIT_OPEN = 0;
/** A target is not open, or open but not ready (its check failed) (probe, explain); the probe could not run (no native binary). */
export const EXIT_NOT_OPEN = 1;
/** The command line is wrong. */
export const EXIT_USAGE = 2;
/** 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** scan: the scan ran, whatever the ports said. */
export const EXIT_SCANNED = 0;
/** scan: HOST does not resolve. */
export const EXIT_UNRESOLVED = 1;
