"""Local web dashboard over run folders (``hrm-agents dashboard RUNS_DIR``): Dash + Plotly, served
offline; see :mod:`.app` (panels) and :mod:`.data` (what is read, the evaluator's verdicts/alerts).
Needs the ``dashboard`` extra (``pip install -e .[dashboard]``)."""
