"""Asset checks. Each module adds its checks to `all_checks`, which definitions.py loads."""

from orchestration.checks.gx import gx_checks

all_checks = [*gx_checks]
