"""LangGraph controllers (arms) and their reusable parts.

* :mod:`~hrm_agents.graphs.coding`: E1 nodes (planner, coder, tester), the conditional edge, graph
  builders and the arms ``flat``, ``flat_retry``, ``hier`` (:data:`CODING_ARMS`).
* :mod:`~hrm_agents.graphs.math`: E2 math graphs (:data:`~hrm_agents.graphs.math.MATH_ARMS`).
* :mod:`~hrm_agents.graphs.common`: node accounting (:func:`llm_step`, :func:`tool_step`,
  :func:`outcome_from_state`) shared by every graph.
* :mod:`~hrm_agents.graphs.extract`: code extraction and test validation.
* :mod:`~hrm_agents.graphs.prompts`: every prompt template of the graphs.

Submodules are imported on use (``from hrm_agents.graphs.coding import hier_arm``) so that the
coding and math graphs do not load each other.
"""
