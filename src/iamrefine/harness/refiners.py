"""The refiners that ``iamrefine regress`` grades: a command line (``--refiner``) or a
Python callable run in a child process (``--refiner-py``), each giving the argv and
environment of one case's run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass

from iamrefine.errors import InputError
from iamrefine.harness.corpus import Case
from iamrefine.harness.pyrunner import PATH_ENV

__all__ = ["CommandRefiner", "PythonRefiner", "Refiner", "shell_syntax"]

_SHELL_OPERATORS = frozenset("|&;<>()`\n")
_EXPANDED = frozenset("`$")
_PARAMETER_START = frozenset("{(@*#?!$-_") | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)
_PLACEHOLDERS = {"{policy}": "1", "{unused}": "2"}


def shell_syntax(template: str) -> tuple[list[str], str]:
    """The shell syntax in ``template`` that a shell would act on: operators and
    redirections outside quotes, and ``$`` expansions and backquotes outside single
    quotes (``shlex.split``, which makes the words, treats them all as text). Also
    the template as a script for ``sh -c``, with ``{policy}`` and ``{unused}`` read
    from the script's arguments ``$1`` and ``$2``, quoted for their position.
    """
    found: list[str] = []
    script: list[str] = []
    quote = ""
    i = 0
    while i < len(template):
        placeholder = next((p for p in _PLACEHOLDERS if template.startswith(p, i)), None)
        if placeholder is not None:
            arg = "$" + _PLACEHOLDERS[placeholder]
            script.append({"": f'"{arg}"', '"': arg, "'": f"'\"{arg}\"'"}[quote])
            i += len(placeholder)
            continue
        ch = template[i]
        script.append(ch)
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\" and i + 1 < len(template):
            script.append(template[i + 1])
            i += 1
        elif ch == '"':
            quote = "" if quote == '"' else '"'
        elif ch == "'" and not quote:
            quote = "'"
        elif ch in _EXPANDED or (not quote and ch in _SHELL_OPERATORS):
            expands = ch != "$" or template[i + 1 : i + 2] in _PARAMETER_START
            if expands and ch not in found:
                found.append(ch)
        i += 1
    return [repr(c)[1:-1] for c in found], "".join(script)


@dataclass(frozen=True)
class CommandRefiner:
    """A refiner command line; ``{policy}`` and ``{unused}`` are replaced in each word
    after splitting (``shlex``), so paths with spaces stay one argument. No shell:
    a template with shell syntax outside quotes (see :func:`shell_syntax`) is refused,
    with the ``sh -c`` form that does what it meant."""

    template: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, template: str) -> CommandRefiner:
        """Split and check a template; raises :class:`InputError` when it is empty,
        lacks ``{policy}`` or ``{unused}``, or names a program that cannot be found."""
        try:
            words = tuple(shlex.split(template))
        except ValueError as exc:
            raise InputError.at("--refiner", f"cannot split `{template}`: {exc}") from None
        found, script = shell_syntax(template)
        if found:
            shown = ", ".join(f"`{c}`" for c in found)
            raise InputError.at(
                "--refiner",
                f"the refiner command `{template}` uses shell syntax ({shown}) outside quotes, "
                "but it runs without a shell, so each word would be a plain argument; "
                "to run it through a shell, give "
                f"`sh -c {shlex.quote(script)} sh {{policy}} {{unused}}`",
            )
        if not words:
            raise InputError.at("--refiner", "the refiner command is empty")
        for placeholder in ("{policy}", "{unused}"):
            if not any(placeholder in w for w in words):
                raise InputError.at(
                    "--refiner", f"the refiner command `{template}` has no `{placeholder}`"
                )
        program = words[0]
        if shutil.which(program) is None:
            raise InputError.at("--refiner", f"refiner program `{program}` not found")
        return cls(template, words)

    @property
    def description(self) -> str:
        return self.template

    def argv(self, case: Case) -> list[str]:
        """The command line for ``case``."""
        policy, unused = str(case.policy_path), str(case.unused_path)
        return [w.replace("{policy}", policy).replace("{unused}", unused) for w in self.words]

    def env(self) -> dict[str, str] | None:
        return None


@dataclass(frozen=True)
class PythonRefiner:
    """A ``module:function`` callable, run in a child Python process per case."""

    spec: str
    path: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str) -> PythonRefiner:
        """Check that ``spec`` imports and is callable here (raises :class:`InputError`
        otherwise). The current folder comes first on the import path, as with
        ``python -m``, followed by this process's path; the child gets the same path."""
        from iamrefine.harness.pyrunner import resolve

        cwd = os.getcwd()
        path = tuple(dict.fromkeys([cwd, *(os.path.abspath(p) for p in sys.path)]))
        saved = sys.path[:]
        sys.path[:] = list(path)
        try:
            resolve(spec)
        except ValueError as exc:
            raise InputError.at("--refiner-py", str(exc)) from None
        finally:
            sys.path[:] = saved
        return cls(spec, path)

    @property
    def description(self) -> str:
        return f"python:{self.spec}"

    def argv(self, case: Case) -> list[str]:
        return [
            sys.executable,
            "-m",
            "iamrefine.harness.pyrunner",
            self.spec,
            str(case.policy_path),
            str(case.unused_path),
        ]

    def env(self) -> dict[str, str] | None:
        return {**os.environ, PATH_ENV: json.dumps(list(self.path))}


Refiner = CommandRefiner | PythonRefiner
