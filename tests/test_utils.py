"""Shared helpers: strict JSON conversion and atomic writes, number formatting, figure set-up."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from hrm_agents.utils import figures, fmt
from hrm_agents.utils.jsonio import read_json, to_json, write_json


class _Model(BaseModel):
    x: float
    p: Path


@dataclass
class _Data:
    t: tuple[int, ...]
    v: float


def test_to_json_is_strict_and_converts_known_types() -> None:
    value = {1: (math.nan, math.inf, 2.5), "m": _Model(x=1.0, p=Path("a/b")), "d": _Data((1, 2), -math.inf),
             "np": [np.float32(0.5), np.int64(3), np.arange(2)], "s": {"k"}}
    out = to_json(value)
    assert out == {"1": [None, None, 2.5], "m": {"x": 1.0, "p": "a/b"}, "d": {"t": [1, 2], "v": None},
                   "np": [0.5, 3, [0, 1]], "s": ["k"]}
    json.dumps(out, allow_nan=False)  # strict JSON: would raise on NaN


def test_write_json_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"a": math.nan, "b": [1, 2]})
    assert read_json(path) == {"a": None, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_write_json_leaves_the_old_file_when_conversion_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"v": 1})

    def boom(*a: object, **k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("hrm_agents.utils.jsonio.os.replace", boom)
    with pytest.raises(OSError):
        write_json(path, {"v": 2})
    assert read_json(path) == {"v": 1}


def test_number_formats_share_one_convention() -> None:
    assert fmt.num(0.5) == "0.500" and fmt.num(None) == "n/a" and fmt.num(math.nan) == "n/a" and fmt.num(3) == "3"
    assert fmt.num(0.25, sign=True) == "+0.250" and fmt.num(-0.25, 1, sign=True) == "-0.2"
    assert fmt.ci((0.1, None)) == "[0.100, n/a]"
    assert fmt.est_ci(0.5, (0.25, 0.75)) == "0.500 [0.250, 0.750]" and fmt.est_ci(0.5, (None, None)) == "0.500"
    assert fmt.p_value(0.00001) == "1.0e-05" and fmt.p_value(0.5) == "0.5000"
    assert fmt.pct(3, 4) == "3/4 (75%)" and fmt.pct(0, 0) == ""


def test_pyplot_is_none_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert figures.pyplot() is None
