"""Imported first by the grader's own processes (the command line, the class workers, the course and gradebook
readers), never by a learner's kernel: a saving of about one and a half CPU-seconds in each of them.

- jsonschema, which nbformat and nbgrader import, also imports rfc3987_syntax wherever it is installed
  (JupyterLab's dependencies install it), and that compiles some 35 Earley grammars at import, for the "iri"
  formats that no notebook schema uses (python-jsonschema/jsonschema#1428). Marked absent, it is skipped as if
  not installed.
- nbgrader's package __init__ loads its four Jupyter server extensions (their handlers, the exchange, about 500
  modules, 0.3-0.4 CPU-s) so that a Jupyter server can find them. A grading run serves no extension: it reads
  the course's paths (nbgrader.coursedir) and writes the gradebook (nbgrader.api). The package is entered here
  as what it is on disk, its submodules importable as ever, without running that __init__; nbgrader's own
  modules import their siblings by name, never from the package's namespace (tests/test_cli.py holds it).
"""
import importlib.util
import sys
import types

sys.modules.setdefault("rfc3987_syntax", None)


def _nbgrader_without_its_server_extensions():
    if "nbgrader" in sys.modules:
        return
    spec = importlib.util.find_spec("nbgrader")
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: whoever needs it says so when they import it
    package = types.ModuleType("nbgrader", "nbgrader, without the server extensions its __init__ loads")
    package.__spec__, package.__file__ = spec, spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = "nbgrader"
    sys.modules["nbgrader"] = package


_nbgrader_without_its_server_extensions()
