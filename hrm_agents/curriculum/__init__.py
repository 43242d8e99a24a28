"""Curriculum of multi-step tasks with exact step counts (issue 7).

Seeded generators for two families (``arith_chain``, ``list_program``), each task carrying its
question, canonical compact form, per-step results, answer, ``k``, family and seed; splits with a
held-out step-count range; export to suite tasks and to HRM training arrays; ``curriculum`` vs
``mixed`` schedules at equal budgets. CLI: ``python -m hrm_agents.curriculum --help``.
"""

from .arrays import (ANSWER_LEN, IGNORE_LABEL, SEQ_LEN, VOCAB, VOCAB_SIZE, decode_answer,
                     encode_canonical, encode_tasks, load_npz, save_npz)
from .export import from_task, read_jsonl, to_suite, to_task, write_jsonl, write_splits
from .generator import (DEFAULT_CONFIGS, SPLITS, ArithConfig, ListConfig, generate, generate_task,
                        make_splits, math_items)
from .programs import ARITH, FAMILIES, LIST, CurriculumTask, from_canonical, parse_question
from .schedules import ThresholdCurriculum, equal_counts, schedule_streams

__all__ = [
    "ANSWER_LEN", "ARITH", "ArithConfig", "CurriculumTask", "DEFAULT_CONFIGS", "FAMILIES", "IGNORE_LABEL",
    "LIST", "ListConfig", "SEQ_LEN", "SPLITS", "ThresholdCurriculum", "VOCAB", "VOCAB_SIZE", "decode_answer",
    "encode_canonical", "encode_tasks", "equal_counts", "from_canonical", "from_task", "generate",
    "generate_task", "load_npz", "make_splits", "math_items", "parse_question", "read_jsonl", "save_npz",
    "schedule_streams", "to_suite", "to_task", "write_jsonl", "write_splits",
]
