package step

// TimeoutHint is the hint of a step that ran out of --timeout without a more
// specific hint of its own.
const TimeoutHint = "podid gave up when --timeout ran out; every step is idempotent: run the same command again with a larger --timeout (e.g. --timeout 20m), and add -v to see which call is slow"

// InterruptedHint is the hint of a step that was interrupted (Ctrl-C).
const InterruptedHint = "interrupted: every step is idempotent, so run the same command again to finish"
