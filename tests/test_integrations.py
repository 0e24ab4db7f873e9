"""The GitHub Action (``action.yml``) and the pre-commit hooks (``.pre-commit-hooks.yaml``).

The action is checked against the structure of GitHub's action metadata (required keys,
composite steps, every input used by the steps declared and every declared input
used). The hooks are run by pre-commit itself, in a temporary git repository, on a
good change and on bad ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_DIR

GOOD = REPO_DIR / "tests" / "bad_inputs" / "good"


def _action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_DIR / "action.yml").read_text("utf-8"))
    return data


def test_action_metadata_structure() -> None:
    action = _action()
    assert {"name", "description", "runs"} <= set(action)
    assert set(action) <= {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    assert steps
    ids = set()
    for step in steps:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step.get("shell") in ("bash", "sh", "pwsh", "python"), step
        else:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", step["uses"]), step
        if "id" in step:
            ids.add(step["id"])
    for name, spec in action["inputs"].items():
        assert re.fullmatch(r"[A-Za-z_][\w-]*", name)
        assert spec.get("description"), name
        assert isinstance(spec.get("default", ""), str), name
    for name, spec in action.get("outputs", {}).items():
        assert spec.get("description"), name
        for step_id in re.findall(r"steps\.([\w-]+)\.outputs", spec["value"]):
            assert step_id in ids, name


def test_action_inputs_used_and_declared() -> None:
    text = (REPO_DIR / "action.yml").read_text("utf-8")
    declared = set(_action()["inputs"])
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == declared


def test_action_runs_commands_the_cli_has() -> None:
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    steps = _action()["runs"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    assert 'hook "$COMMAND"' in script
    defaults = _action()["inputs"]
    assert defaults["command"]["default"] == "no-new-access"
    for command in ("no-new-access", "validate"):
        result = CliRunner().invoke(app, ["hook", command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--sarif" in result.output


def test_hook_manifest() -> None:
    hooks = yaml.safe_load((REPO_DIR / ".pre-commit-hooks.yaml").read_text("utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert {"iamrefine-validate", "iamrefine-no-new-access"} <= set(by_id)
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        assert hook["entry"].startswith("iamrefine hook ")


def test_readme_shows_both() -> None:
    readme = (REPO_DIR / "README.md").read_text("utf-8")
    assert "uses: " in readme and "action.yml" in readme
    assert "iamrefine-no-new-access" in readme and ".pre-commit-config.yaml" in readme


# --- pre-commit itself ------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=_git_env()
    )
    return proc.stdout


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
    )
    return env


def _hook_repo(target: Path) -> str:
    """A git repository holding this working tree's files (committed or not); its
    commit id."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_DIR,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = REPO_DIR / rel
        if not source.is_file() or rel.startswith(("tests/", "benchmarks/")):
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / rel)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "hooks")
    return _git(target, "rev-parse", "HEAD").strip()


@pytest.mark.slow
def test_pre_commit_runs_the_hooks_on_good_and_bad_changes(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    rev = _hook_repo(hooks)
    project = tmp_path / "project"
    (project / "policies").mkdir(parents=True)
    _git(project, "init", "-q")
    policy = json.loads((GOOD / "policy.json").read_text())
    app = project / "policies" / "app.json"
    app.write_text(json.dumps(policy, indent=2) + "\n")
    config = {
        "repos": [
            {
                "repo": str(hooks),
                "rev": rev,
                "hooks": [
                    {"id": "iamrefine-validate"},
                    {
                        "id": "iamrefine-no-new-access",
                        "args": ["--catalog", str(GOOD / "catalog.json")],
                    },
                ],
            }
        ]
    }
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "base")
    env = _git_env()
    env["PRE_COMMIT_HOME"] = str(tmp_path / "cache")
    env.pop("PYTHONPATH", None)

    def pre_commit() -> subprocess.CompletedProcess[str]:
        _git(project, "add", "-A")
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--files", "policies/app.json"],
            cwd=project,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=1200,
        )

    # A good change: narrower than the committed policy.
    narrowed = json.loads(json.dumps(policy))
    narrowed["Statement"][1]["Action"] = ["lambda:GetFunction"]
    app.write_text(json.dumps(narrowed, indent=2) + "\n")
    good = pre_commit()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "iamrefine no new access" in good.stdout and "Passed" in good.stdout

    # A bad change: wider than the committed policy.
    widened = json.loads(json.dumps(policy))
    widened["Statement"][1]["Action"] = ["lambda:*"]
    app.write_text(json.dumps(widened, indent=2) + "\n")
    bad = pre_commit()
    assert bad.returncode == 1
    assert "REFUTED" in bad.stdout and "lambda:" in bad.stdout

    # An invalid policy fails validation with its position.
    app.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Alow"}]}\n')
    broken = pre_commit()
    assert broken.returncode == 1
    assert "policies/app.json:1:" in broken.stdout and "error:" in broken.stdout
