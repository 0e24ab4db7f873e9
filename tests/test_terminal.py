"""Terminal habits of the command line: ``--version``, ``-h``, boolean flags shown as
flags, help summaries in whole sentences at 80 columns, and progress as plain lines
when stderr is not a terminal."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import iamrefine
from iamrefine.cli.app import app
from iamrefine.cli.terminal import reflow

GOOD = Path(__file__).resolve().parent / "bad_inputs" / "good"
COMMANDS = [
    ["parse"],
    ["refine"],
    ["check"],
    ["equiv"],
    ["regress"],
    ["refine-batch"],
    ["catalog", "info"],
    ["hook", "no-new-access"],
    ["aws", "apply"],
]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "-h"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"iamrefine {iamrefine.__version__}\n"


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_h_is_help_and_flags_take_no_value(args: list[str]) -> None:
    text = _help(*args)
    assert "Usage: iamrefine " in text
    assert "<bool>" not in text
    assert text == CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"}).output


def test_a_command_line_builds_only_its_command(tmp_path: Path) -> None:
    """`iamrefine CMD` imports the module of CMD alone; its help and its errors are those
    of the whole application, and the root's help still lists every command."""
    from iamrefine.cli.app import COMMANDS, ONE_INPUT, _modules_for, build_app

    assert set(COMMANDS) >= ONE_INPUT
    # Every command of the whole application is mapped to the module that registers it.
    assert set(typer.main.get_command(app).commands) == set(COMMANDS)

    assert _modules_for(["parse", "x.json"]) == ["cmd_parse"]
    assert _modules_for(["--version"]) is None
    assert _modules_for(["-h", "parse"]) is None
    assert _modules_for(["pars"]) is None
    whole = CliRunner().invoke(app, ["-h"], env={"COLUMNS": "80", "NO_COLOR": "1"}).output
    assert all(name in whole for name in COMMANDS)
    for args in COMMANDS:
        alone = build_app(_modules_for([args]))
        assert CliRunner().invoke(alone, [args, "-h"], env={"COLUMNS": "80"}).output == (
            CliRunner().invoke(app, [args, "-h"], env={"COLUMNS": "80"}).output
        )
    # The process also ends with the garbage collector running again, what start-up
    # built frozen (see `cli.app.main`).
    code = (
        "import gc, sys; from iamrefine.cli import main\n"
        "try:\n    main(['parse', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 0)\n"
        "print(sorted(m for m in sys.modules if m.startswith('iamrefine.cli.cmd_')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(GOOD / "policy.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-2:] == ["True True", "['iamrefine.cli.cmd_parse']"]


def test_a_flag_given_a_value_is_an_error() -> None:
    result = CliRunner().invoke(app, ["parse", str(GOOD / "policy.json"), "--json", "true"])
    assert result.exit_code == 2
    assert "unexpected extra argument" in result.output


def test_summaries_are_whole_sentences_at_80_columns() -> None:
    """Each command's summary in `iamrefine -h` wraps only where the terminal does:
    every line of the commands panel but the last of an entry is filled to the
    panel's width, so no docstring line break cuts a sentence."""
    text = _help()
    panel = text[text.index("Commands") :]
    rows = [ln for ln in panel.splitlines() if ln.startswith("│")]
    entries: list[list[str]] = []
    for row in rows:
        body = row.strip("│").rstrip()
        if re.match(r" [a-z][\w-]+ ", body):
            entries.append([body])
        elif entries:
            entries[-1].append(body)
    assert len(entries) >= 10
    for entry in entries:
        for line, following in itertools.pairwise(entry):
            next_word = following.split()[0]
            # The next line's first word did not fit on this one.
            assert len(line) + 1 + len(next_word) > 78 - 1, entry


def test_reflow_joins_lines_within_paragraphs_only() -> None:
    assert reflow("One line\n  and more.\n\nSecond\nparagraph.") == (
        "One line and more.\n\nSecond paragraph."
    )
    assert reflow("\b\nkept\nas is") == "\b\nkept\nas is"


def test_progress_is_plain_lines_without_a_terminal(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for name in ("a", "b"):
        case = corpus / name
        case.mkdir(parents=True)
        shutil.copy(GOOD / "policy.json", case / "policy.json")
        shutil.copy(GOOD / "unused.json", case / "unused.json")
    proc = subprocess.run(
        [
            sys.executable, "-m", "iamrefine", "refine-batch", str(corpus), str(tmp_path / "out"),
            "--catalog", str(GOOD / "catalog.json"), "--no-prove",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "refining" in ln]
    assert lines == [
        "iamrefine: note: refining 1/2: a: refined",
        "iamrefine: note: refining 2/2: b: refined",
    ]
    assert "\x1b[" not in proc.stderr
