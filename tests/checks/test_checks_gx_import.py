"""Great Expectations is imported while dbt runs, so that the checks after dbt find it done."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_import_started_before_dbt_is_done_when_the_block_ends() -> None:
    # A process of its own: this one may have imported Great Expectations already.
    code = """
import sys
import threading

from orchestration.checks.gx_context import importing_in_background

assert "great_expectations" not in sys.modules, "imported before it was asked for"
with importing_in_background():
    importer = [t for t in threading.enumerate() if t.name == "import great_expectations"]
    assert importer and importer[0].daemon, "not imported in a thread of its own"
assert not importer[0].is_alive()
assert "great_expectations.data_context" in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
