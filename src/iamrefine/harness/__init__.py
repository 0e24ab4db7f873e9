"""The auditor and regression harness, and batch mode.

- :mod:`~iamrefine.harness.corpus`: cases and corpora, ``corpus make``;
- :mod:`~iamrefine.harness.regress`: grading any refiner over a corpus;
- :mod:`~iamrefine.harness.batch`: refining a whole corpus, resumably;
- :mod:`~iamrefine.harness.report`: tables, JSON report and JUnit XML;
- :mod:`~iamrefine.harness.run`: running a refiner with a timeout and bounded output;
- :mod:`~iamrefine.harness.pool`: running cases in worker processes.
"""
