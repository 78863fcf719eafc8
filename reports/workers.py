"""What the pipeline's worker processes say back. The PDF printer (`python -m
reports.browser`), the chart drawers (`python -m reports.draw`) and the forecasts' second
process (`python -m forecasts.methods`) write to a stderr their parent keeps in a file (a
full pipe would stall them), the first two as `LEVEL message` lines; `relay` reads it once
the worker has stopped.

Standard library only: the workers import it, and the page build's start in well under a
second.
"""

from __future__ import annotations

import logging
from typing import IO


def relay(what: str, module: str, code: int, messages: IO[str]) -> None:
    """Logs the warnings the worker `python -m <module>` wrote to `messages` (as `module`'s
    logger), and if it failed (exit `code` not 0) raises `RuntimeError` naming `what` it was
    doing with its error, or its last line when it wrote none."""
    messages.seek(0)
    lines = [line for line in messages.read().splitlines() if line.strip()]
    error = None
    for line in lines:
        level, _, text = line.partition(" ")
        if level == "WARNING":
            logging.getLogger(module).warning("%s", text)
        elif level == "ERROR":
            error = text
    if code != 0:
        reason = error or (lines[-1] if lines else f"exit status {code}")
        raise RuntimeError(f"{what} (python -m {module}) failed: {reason}")
