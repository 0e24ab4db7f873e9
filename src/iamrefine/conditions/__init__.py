"""Full semantics of IAM condition blocks: an SMT encoder and an independent evaluator.

- :mod:`iamrefine.conditions.operators` reads operator names (family, negation,
  ``IfExists``, ``ForAllValues:``/``ForAnyValue:``) and reports unknown ones;
- :mod:`iamrefine.conditions.smt` encodes a block over a typed request context in Z3;
- :mod:`iamrefine.conditions.concrete` evaluates a block on a concrete request in plain
  Python; it shares no code with the encoder but the operator-name reader.

The semantics (both sides) are documented in ``proofs/THEOREMS.md``, section
"Condition semantics".
"""
