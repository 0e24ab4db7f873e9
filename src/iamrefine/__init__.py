"""iamrefine: refine AWS IAM policies to least privilege, with a proof attached.

The public API is re-exported here; modules whose names start with an underscore
and everything not listed in ``__all__`` are private.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CheckInputs": "iamrefine.api",
    "Outcome": "iamrefine.api",
    "check": "iamrefine.api",
    "equiv": "iamrefine.api",
    "load_check_inputs": "iamrefine.api",
    "refine_and_prove": "iamrefine.api",
    "EngineName": "iamrefine.choices",
    "Granularity": "iamrefine.choices",
    "OutputFormat": "iamrefine.choices",
    "Strategy": "iamrefine.choices",
    "RefinedOutput": "iamrefine.recommendation",
    "read_refined": "iamrefine.recommendation",
    "CheckReport": "iamrefine.verify",
    "ClaimResult": "iamrefine.verify",
    "Counterexample": "iamrefine.verify",
    "Verdict": "iamrefine.verify",
    "Catalog": "iamrefine.catalog",
    "load_catalog": "iamrefine.catalog",
    "CatalogError": "iamrefine.errors",
    "CertificateError": "iamrefine.errors",
    "Diagnostic": "iamrefine.errors",
    "IamRefineError": "iamrefine.errors",
    "InputError": "iamrefine.errors",
    "InternalError": "iamrefine.errors",
    "PolicyError": "iamrefine.errors",
    "UnusedInputError": "iamrefine.errors",
    "Policy": "iamrefine.model",
    "Statement": "iamrefine.model",
    "UnusedSet": "iamrefine.unused",
    "load_unused": "iamrefine.unused",
    "parse_unused": "iamrefine.unused",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from iamrefine.api import CheckInputs as CheckInputs
    from iamrefine.api import Outcome as Outcome
    from iamrefine.api import check as check
    from iamrefine.api import equiv as equiv
    from iamrefine.api import load_check_inputs as load_check_inputs
    from iamrefine.api import refine_and_prove as refine_and_prove
    from iamrefine.catalog import Catalog as Catalog
    from iamrefine.catalog import load_catalog as load_catalog
    from iamrefine.choices import EngineName as EngineName
    from iamrefine.choices import Granularity as Granularity
    from iamrefine.choices import OutputFormat as OutputFormat
    from iamrefine.choices import Strategy as Strategy
    from iamrefine.errors import CatalogError as CatalogError
    from iamrefine.errors import CertificateError as CertificateError
    from iamrefine.errors import Diagnostic as Diagnostic
    from iamrefine.errors import IamRefineError as IamRefineError
    from iamrefine.errors import InputError as InputError
    from iamrefine.errors import InternalError as InternalError
    from iamrefine.errors import PolicyError as PolicyError
    from iamrefine.errors import UnusedInputError as UnusedInputError
    from iamrefine.model import Policy as Policy
    from iamrefine.model import Statement as Statement
    from iamrefine.recommendation import RefinedOutput as RefinedOutput
    from iamrefine.recommendation import read_refined as read_refined
    from iamrefine.unused import UnusedSet as UnusedSet
    from iamrefine.unused import load_unused as load_unused
    from iamrefine.unused import parse_unused as parse_unused
    from iamrefine.verify import CheckReport as CheckReport
    from iamrefine.verify import ClaimResult as ClaimResult
    from iamrefine.verify import Counterexample as Counterexample
    from iamrefine.verify import Verdict as Verdict


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import iamrefine` (and so CLI start-up) light.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'iamrefine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
