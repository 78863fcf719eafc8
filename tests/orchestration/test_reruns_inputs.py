"""What a complete run's fingerprint takes from the dbt project: a parse of the same project
stamps a new invocation and a new `created_at` on every node, which must not count as a
change (the next run would build everything again); a changed model must."""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.project import dbt_project
from orchestration.reruns import _manifest_digest


def _write(path: Path, manifest: dict) -> Path:
    path.write_text(json.dumps(manifest))
    return path


def test_a_project_parsed_again_is_the_same_and_a_changed_model_is_not(tmp_path: Path) -> None:
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    before = _manifest_digest(_write(tmp_path / "before.json", manifest))

    manifest["metadata"]["invocation_id"] = "another-invocation"
    manifest["metadata"]["generated_at"] = "2030-01-01T00:00:00Z"
    for kind in ("nodes", "sources", "macros"):
        for node in manifest[kind].values():
            node["created_at"] = node["created_at"] + 3600.0
    assert _manifest_digest(_write(tmp_path / "parsed_again.json", manifest)) == before

    model = manifest["nodes"]["model.partnerpulse.fct_partner_months"]
    model["raw_code"] += "\n-- changed"
    assert _manifest_digest(_write(tmp_path / "changed.json", manifest)) != before
