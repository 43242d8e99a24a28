"""LangGraph controllers (arms) and their reusable parts.

* :mod:`~hrm_agents.graphs.coding`: E1 nodes (planner, coder, tester), the conditional edge, graph
  builders and the arms ``flat``, ``flat_retry``, ``hier`` (:data:`CODING_ARMS`).
* :mod:`~hrm_agents.graphs.math`: E2 math graphs (:data:`~hrm_agents.graphs.math.MATH_ARMS`).
* :mod:`~hrm_agents.graphs.common`: node accounting (:func:`llm_step`, :func:`tool_step`,
  :func:`outcome_from_state`) shared by every graph; :func:`~hrm_agents.graphs.common.compiled`
  compiles a graph once per run instead of once per attempt.
* :mod:`~hrm_agents.graphs.arms`: arms built from arms (few-shot exemplars) or from one model call.
* :mod:`~hrm_agents.graphs.extract`: code and codelet extraction, test validation.
* :mod:`~hrm_agents.graphs.prompts`: every prompt template of the graphs.

Submodules are imported on use (``from hrm_agents.graphs.coding import hier_arm``) so that the
coding and math graphs do not load each other.
"""
