"""The experiments: one package per experiment (``expN_name/run.py`` is its CLI; modules beside it
hold its orchestration). Not installed with the library; the CLIs put the checkout on ``sys.path``."""
