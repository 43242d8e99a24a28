"""The native Hierarchical Reasoning Model (HRM): model, trainer and backend.

Modules: :mod:`~hrm_agents.hrm.config` (settings, no torch), :mod:`~hrm_agents.hrm.model`
(PyTorch model, ACT, loss, save/load), :mod:`~hrm_agents.hrm.data` (curriculum adapter),
:mod:`~hrm_agents.hrm.train` (``python -m hrm_agents.hrm.train``), :mod:`~hrm_agents.hrm.backend`
(``HRMBackend``) and :mod:`~hrm_agents.hrm.report` (run summaries). The causal code models of the
validation study: :mod:`~hrm_agents.hrm.lm` (HRM-LM and plain LM, KV-cache sampling),
:mod:`~hrm_agents.hrm.lm_train` (pretraining, fine-tuning, MBPP sampling) and
:mod:`~hrm_agents.hrm.code_data` (offline corpus, decontamination, BPE). PyTorch is the optional extra
``hrm``; importing this package does not import it.
"""
