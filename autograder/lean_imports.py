"""Imported first by the grader's own processes (the command line, the class workers), never by a
learner's kernel: a saving of about one CPU-second in each of them.

jsonschema, which nbformat and nbgrader import, also imports rfc3987_syntax wherever it is installed (JupyterLab's
dependencies install it), and that compiles some 35 Earley grammars at import, for the "iri" formats that no
notebook schema uses (python-jsonschema/jsonschema#1428). Marked absent, it is skipped as if not installed.
"""
import sys

sys.modules.setdefault("rfc3987_syntax", None)
