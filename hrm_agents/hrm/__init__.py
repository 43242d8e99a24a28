"""The native Hierarchical Reasoning Model (HRM): model, trainer and backend.

Modules: :mod:`~hrm_agents.hrm.config` (settings, no torch), :mod:`~hrm_agents.hrm.model`
(PyTorch model, ACT, loss, save/load), :mod:`~hrm_agents.hrm.data` (curriculum adapter),
:mod:`~hrm_agents.hrm.train` (``python -m hrm_agents.hrm.train``), :mod:`~hrm_agents.hrm.backend`
(``HRMBackend``) and :mod:`~hrm_agents.hrm.report` (run summaries). PyTorch is the optional extra
``hrm``; importing this package does not import it.
"""
