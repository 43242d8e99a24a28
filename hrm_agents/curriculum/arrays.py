"""Fixed-width token arrays of curriculum tasks, the format the HRM trainer reads.

One character = one token. A row of ``inputs`` is the canonical form, one ``SEP`` token and
``ANSWER_LEN`` ``MASK`` tokens (the answer slot), then ``PAD`` up to ``SEQ_LEN``. The row of
``labels`` is ``IGNORE_LABEL`` everywhere except the answer slot, which holds the answer's characters
right-padded with ``PAD``::

    canonical "7 *3 -4"  ->  inputs  7 ␣ * 3 ␣ - 4 = ? ? ? ? <pad>...
                             labels  .  .  .  .  .  .  . . 1 7 <pad> <pad> . ...   (. = -100)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..utils.constants import IGNORE_LABEL
from .programs import FAMILIES, CurriculumTask

PAD, SEP, MASK = 0, 1, 2
CHARS = "0123456789+-*/% [],aegimnoprstuvx"  # every character of canonical forms and answers
VOCAB: tuple[str, ...] = ("<pad>", "=", "?") + tuple(CHARS)  # token id -> text
VOCAB_SIZE = len(VOCAB)
SEQ_LEN = 64  # fits k <= 8 of both families under the default configs (longest: 51 chars + 5)
ANSWER_LEN = 4
FAMILY_IDS = {f: i for i, f in enumerate(FAMILIES)}

_IGNORE_CHAR = "\x01"  # placeholder for IGNORE_LABEL while building label rows
_LUT = np.full(256, -1, dtype=np.int32)  # byte -> token id, -1 = not in the vocabulary
_LUT[0] = PAD
for _i, _c in enumerate(VOCAB[1:], start=1):
    _LUT[ord(_c)] = _i
_LABEL_LUT = _LUT.copy()
_LABEL_LUT[ord(_IGNORE_CHAR)] = IGNORE_LABEL


def _to_ids(rows: list[str], lut: np.ndarray) -> np.ndarray:
    """Turn equal-length strings (\\0 = PAD) into an int32 id matrix, rejecting unknown characters."""
    try:
        raw = "".join(rows).encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("non-ASCII character in a canonical form or answer") from None
    ids = lut[np.frombuffer(raw, dtype=np.uint8)].reshape(len(rows), SEQ_LEN)
    if (ids == -1).any():
        bad = sorted({chr(b) for b in raw if lut[b] == -1})
        raise ValueError(f"characters {bad} are not in the curriculum vocabulary")
    return ids


def _input_row(canonical: str) -> str:
    row = canonical + VOCAB[SEP] + VOCAB[MASK] * ANSWER_LEN
    if len(row) > SEQ_LEN:
        raise ValueError(f"canonical form {canonical!r} is too long ({len(canonical)} chars; "
                         f"at most {SEQ_LEN - 1 - ANSWER_LEN})")
    return row.ljust(SEQ_LEN, "\0")


def encode_canonical(canonical: str) -> np.ndarray:
    """The ``inputs`` row (int32[SEQ_LEN]) of a canonical form, for inference."""
    return _to_ids([_input_row(canonical)], _LUT)[0]


def encode_tasks(tasks: Sequence[CurriculumTask]) -> dict[str, np.ndarray]:
    """Arrays ``inputs``/``labels`` (int32[N, SEQ_LEN]), ``k`` and ``family`` (int8[N], index into FAMILIES)."""
    inputs, labels = [], []
    for t in tasks:
        answer = str(t.answer)
        if len(answer) > ANSWER_LEN:
            raise ValueError(f"answer {answer!r} of {t.canonical!r} is longer than ANSWER_LEN={ANSWER_LEN}")
        inputs.append(_input_row(t.canonical))
        start = len(t.canonical) + 1
        labels.append((_IGNORE_CHAR * start + answer.ljust(ANSWER_LEN, "\0")).ljust(SEQ_LEN, _IGNORE_CHAR))
    return {
        "inputs": _to_ids(inputs, _LUT),
        "labels": _to_ids(labels, _LABEL_LUT),
        "k": np.array([t.k for t in tasks], dtype=np.int8),
        "family": np.array([FAMILY_IDS[t.family] for t in tasks], dtype=np.int8),
    }


def decode_answer(row: np.ndarray, inputs: np.ndarray | None = None) -> str:
    """Answer text of a ``labels`` row, or of a predicted row given its ``inputs`` row.

    The answer slot is where ``inputs`` holds MASK (or, without ``inputs``, where the row is not
    IGNORE_LABEL). Trailing PADs are dropped; a PAD inside the answer reads as ``_`` and any other
    non-character token as its vocabulary text, so a malformed prediction never equals a real answer.
    """
    row = np.asarray(row)
    slot = row[np.asarray(inputs) == MASK] if inputs is not None else row[row != IGNORE_LABEL]
    ids = [int(i) for i in slot]
    while ids and ids[-1] == PAD:
        ids.pop()
    return "".join("_" if i == PAD else VOCAB[i] if 0 <= i < VOCAB_SIZE else "�" for i in ids)


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays (plus the vocabulary, checked on load) to a compressed ``.npz``."""
    np.savez_compressed(path, **arrays, vocab=np.array(VOCAB))


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read arrays written by :func:`save_npz`; ValueError if written with a different vocabulary."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if tuple(arrays.pop("vocab", ())) != VOCAB:
        raise ValueError(f"{path}: written with a different curriculum vocabulary")
    return arrays
