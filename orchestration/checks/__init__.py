"""Asset checks. Each module adds its checks to `all_checks`, which definitions.py loads."""

from orchestration.checks.findings import findings_checks
from orchestration.checks.gx import gx_checks

all_checks = [*gx_checks, findings_checks]
