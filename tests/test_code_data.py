"""Code corpus for the causal LMs: licence filter, decontamination against MBPP, dedup, tokenizer."""

import json
from pathlib import Path

import pytest

from hrm_agents.hrm.code_data import (EOS_ID, PAD_ID, Decontaminator, Source, benchmark_solutions, build_corpus,
                                      licence_is_permissive, mbpp_prompt)

MBPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mbpp.jsonl"
SOLUTION = "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res) "


@pytest.mark.parametrize("text,ok", [
    ("MIT", True), ("BSD-3-Clause", True), ("Apache-2.0 OR MIT", True), ("Python Software Foundation License", True),
    ("MPL-2.0 AND (Apache-2.0 OR MIT)", False), ("GNU General Public License (GPL)", False),
    ("LGPL-2.1-or-later", False), ("", False), (None, False), ("Proprietary", False), ("UNKNOWN", False),
])
def test_licence_filter(text, ok):
    assert licence_is_permissive(text) is ok


def test_decontaminator_flags_a_solution_however_it_is_laid_out():
    d = Decontaminator([SOLUTION])
    relaid = ("import os\n\n# helper copied from somewhere\ndef similar_elements( test_tup1,test_tup2 ):\n"
              "    res = tuple(set(test_tup1)&set(test_tup2))  # intersection\n    return (res)\n")
    assert d.contaminated(relaid)
    assert not d.contaminated("def similar(a, b):\n    return tuple(set(a) | set(b))\n")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return Source(str(p), "test", "MIT")


def test_build_corpus_drops_duplicates_contaminated_and_minified(tmp_path):
    clean = "def add(a, b):\n    '''Add two numbers.'''\n    return a + b\n\n\nprint(add(1, 2))\n"
    srcs = [_write(tmp_path, "a.py", clean), _write(tmp_path, "b.py", clean),
            _write(tmp_path, "c.py", "x = 1\n" + SOLUTION + "\n"), _write(tmp_path, "d.py", "y = [" + "1, " * 600 + "]\n"),
            _write(tmp_path, "e.py", "z = 2\n" * 20)]
    docs, stats = build_corpus(srcs, Decontaminator([SOLUTION]), max_bytes=10**6)
    assert sorted(docs) == sorted([clean, "z = 2\n" * 20])
    assert stats.dropped == {"contaminated": 1, "duplicate": 1, "long_lines": 1}
    assert stats.files_seen == 5 and stats.bytes_kept == len(clean) + 120


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_every_mbpp_test_solution_is_caught():
    """Each MBPP test-split solution (task 11-510) would be removed from the corpus if a file held it."""
    rows = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    d = Decontaminator(benchmark_solutions(MBPP))
    test = [r["code"] for r in rows if 11 <= r["task_id"] <= 510]
    caught = [d.contaminated("import sys\n\n" + code.replace("\r\n", "\n") + "\n") for code in test]
    assert all(caught)


def test_tokenizer_has_fixed_specials_and_round_trips():
    pytest.importorskip("tokenizers")
    from hrm_agents.hrm.code_data import encode_docs, train_tokenizer

    docs = ["def f(x):\n    return x * 2\n", "class A:\n    pass\n"] * 50
    tok = train_tokenizer(docs, 300)
    assert tok.token_to_id("<|pad|>") == PAD_ID and tok.token_to_id("<|endoftext|>") == EOS_ID
    assert tok.decode(tok.encode(docs[0]).ids) == docs[0]
    stream = encode_docs(tok, docs[:2])
    assert stream.dtype.name == "uint16" and list(stream).count(EOS_ID) == 2 and stream[-1] == EOS_ID


def test_mbpp_prompt_layout():
    assert mbpp_prompt("Add numbers. ", ["assert add(1, 2) == 3"]) == '"""\nAdd numbers.\nassert add(1, 2) == 3\n"""\n'
