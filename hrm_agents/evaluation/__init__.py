"""The evaluator: one result format, failure taxonomy, statistics and reports for every experiment.

* records: :class:`AttemptRecord` (one line of ``results.jsonl``), :class:`FailureTag`.
* stats: unbiased pass@k, Wilson CIs, paired comparison (bootstrap + McNemar), unpaired bootstrap
  CI, the verdict rule; t intervals across training seeds (:func:`t_interval`, :func:`welch_interval`).
* calibration: reliability bins and expected calibration error (the HRM's Q-halt head).
* taxonomy: rule-based failure tags with evidence (:func:`tag_attempt`, :func:`retag`).
Submodules load on use (``from hrm_agents.evaluation import write_report`` imports the report then).

* report: analysis of run folders into ``stats.json`` / ``report.md`` (:func:`write_report`,
  :func:`compare_runs`, :func:`tag_run`); :func:`load_run` reads a run folder.
"""

from ..utils.lazy import lazy_exports
from .records import AttemptRecord, FailureTag

_SUBMODULE = {
    **dict.fromkeys(("RunData", "RunDirError", "load_run", "load_tasks"), "io"),
    **dict.fromkeys(("analyze", "compare_runs", "tag_run", "write_report"), "report"),
    **dict.fromkeys(("Comparison", "VerdictRule", "bootstrap_ci", "compare", "mcnemar_exact", "paired_bootstrap",
                     "pass_at_k", "t_interval", "unpaired_bootstrap_ci", "verdict", "welch_interval", "wilson_ci"),
                    "stats"),
    **dict.fromkeys(("TAG_DESCRIPTIONS", "TAGS", "retag", "tag_attempt"), "taxonomy"),
}
__all__ = [
    "AttemptRecord", "Comparison", "FailureTag", "RunData", "RunDirError", "TAGS", "TAG_DESCRIPTIONS", "VerdictRule",
    "analyze", "bootstrap_ci", "compare", "compare_runs", "load_run", "load_tasks", "mcnemar_exact",
    "paired_bootstrap", "pass_at_k", "retag", "t_interval", "tag_attempt", "tag_run", "unpaired_bootstrap_ci",
    "verdict", "welch_interval", "wilson_ci", "write_report",
]
__getattr__ = lazy_exports(__name__, _SUBMODULE)
