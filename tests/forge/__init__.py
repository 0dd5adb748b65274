"""An independent generator of damaged survey submissions with ground truth,
and a scorer that measures how many of their exposures the reader stores right.

* :mod:`tests.forge.surveys` draws clean exposures, damages the files that
  carry them (each damage kind a named switch) and records the truth.
* :mod:`tests.forge.score` ingests a generated batch and tells right, wrong
  and rejected rows apart, per damage kind and by failure class;
  ``python -m tests.forge.score --examples 200 --level 1`` prints the report.
* :mod:`tests.forge.reader` is the one place that imports the reader.

The generator shares no code with the package's own survey generator; it
reads only the exam catalogue (a CSV file) from the package.
"""
