"""The `handtrack` command: MediaPipe's detector process first, then app.cli.

`handtrack` imports numba, onnxruntime, the engine and (for the window) Qt before it opens a
source; MediaPipe's own import in its child process takes about as long. Started here, before
any of those imports (app/detector_prestart.py), the child loads MediaPipe on the other core
meanwhile, and the first frame no longer waits for it. Skipped where the command line says no
detector process runs (--help, --no-overlap, --tracking flow, a plain --replay); a child
nobody takes ends with the command.
"""

from __future__ import annotations

import sys


def uses_detector_process(argv: list[str]) -> bool:
    """Whether `handtrack argv` would run MediaPipe in a process of its own (the default: the
    detector works ahead of the network). Reads the flags only; a wrong guess costs a child that
    is started for nothing, or one started later by the engine."""
    if any(a in ("-h", "--help", "--no-overlap") for a in argv):
        return False
    if "--replay" in argv and "--reprocess" not in argv:
        return False
    for i, a in enumerate(argv):
        if a == "--tracking=flow" or (a == "--tracking" and argv[i + 1:i + 2] == ["flow"]):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if uses_detector_process(args):
        from app.detector_prestart import prestart

        prestart()
    from app.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
