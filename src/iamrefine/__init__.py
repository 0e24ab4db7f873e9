"""iamrefine: refine AWS IAM policies to least privilege, with a proof attached.

The public API is re-exported here; modules whose names start with an underscore
and everything not listed in ``__all__`` are private.
"""

from __future__ import annotations

__version__ = "0.1.0"

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.errors import (
    CatalogError,
    CertificateError,
    Diagnostic,
    IamRefineError,
    InputError,
    InternalError,
    PolicyError,
    UnusedInputError,
)
from iamrefine.model import Policy, Statement
from iamrefine.unused import UnusedSet, load_unused, parse_unused

__all__ = [
    "Catalog",
    "CatalogError",
    "CertificateError",
    "Diagnostic",
    "IamRefineError",
    "InputError",
    "InternalError",
    "Policy",
    "PolicyError",
    "Statement",
    "UnusedInputError",
    "UnusedSet",
    "__version__",
    "load_catalog",
    "load_unused",
    "parse_unused",
]
