"""Offline code data for the causal LMs: a Python pretraining corpus, a byte-level BPE and MBPP prompts.

* :func:`collect_sources` walks the interpreter's standard library (PSF licence) and the installed
  distributions' ``.py`` files, keeping a distribution only when its metadata names a permissive
  licence (:func:`licence_is_permissive`; unknown or copyleft -> left out).
* :func:`build_corpus` reads them, drops unreadable/huge/minified files, exact duplicates (SHA-1 of the
  text) and every file that shares a :data:`NGRAM`-token window with an MBPP or HumanEval solution
  (:class:`Decontaminator`), shuffles (seeded) and stops at ``max_bytes``.
* :func:`train_tokenizer` trains a byte-level BPE with the ``tokenizers`` library; :func:`encode_docs`
  turns documents into one ``uint16`` token stream, documents separated by ``<|endoftext|>``.
* :func:`mbpp_prompt` is the one prompt layout used for fine-tuning, evaluation and the chat backend.

Needs the ``hrm`` extra (``tokenizers``, ``numpy``); nothing here executes any of the code it reads.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata as md
import json
import random
import re
import sys
import sysconfig
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

PAD, EOS = "<|pad|>", "<|endoftext|>"
PAD_ID, EOS_ID = 0, 1
NGRAM = 13  # lexical tokens per contamination window (about one line and a half of code)

_PERMISSIVE = re.compile(r"\b(mit|bsd|0bsd|apache|asl|psf|python|isc|zlib|unlicense|cc0|hpnd|public domain|bsl-1\.0|"
                         r"mit-cmu|cnri)", re.I)
_COPYLEFT = re.compile(r"(gpl|mpl|mozilla|eclipse|epl-|cddl|copyleft|osl-|eupl|proprietary|commercial)", re.I)
_LEX = re.compile(r"[A-Za-z_]\w*|\d+|\S")


def licence_is_permissive(text: str | None) -> bool:
    """True when ``text`` (SPDX expression, classifier names or a short licence line) names a permissive
    licence and no copyleft/proprietary one. Conservative: anything unknown is False."""
    return bool(text) and bool(_PERMISSIVE.search(text)) and not _COPYLEFT.search(text)


def distribution_licence(meta: Mapping[str, Any] | Any) -> str:
    """The licence a distribution's metadata declares: ``License-Expression``, else its licence
    classifiers, else the first line of ``License`` (long fields are often the whole licence text)."""
    expr = meta.get("License-Expression")
    if expr:
        return expr
    classifiers = [c.split("::")[-1].strip() for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")]
    classifiers = [c for c in classifiers if c != "OSI Approved"]
    if classifiers:
        return ", ".join(classifiers)
    return ((meta.get("License") or "").strip().splitlines() or [""])[0][:120]


@dataclass
class Source:
    """One candidate file and where its licence came from."""

    path: str
    origin: str  # "stdlib" or the distribution name
    licence: str


def collect_sources() -> tuple[list[Source], dict[str, Any]]:
    """``.py`` files of the standard library and of permissively licensed installed distributions.

    Returns the sources and a summary (distributions kept / left out with their licences).
    """
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    site = {Path(p).resolve() for p in (paths["purelib"], paths["platlib"])}
    sources = [Source(str(p), "stdlib", "PSF-2.0") for p in sorted(stdlib.rglob("*.py"))
               if not any(Path(p).resolve().is_relative_to(s) for s in site) and "site-packages" not in p.parts]
    kept, dropped = {}, {}
    seen: set[str] = {s.path for s in sources}
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata.get("Name") or "").lower()):
        name = dist.metadata.get("Name") or "?"
        lic = distribution_licence(dist.metadata)
        if not licence_is_permissive(lic):
            dropped[name] = lic or "unknown"
            continue
        n = 0
        for f in dist.files or []:
            if f.suffix != ".py":
                continue
            p = str(dist.locate_file(f))
            if p not in seen:
                seen.add(p)
                sources.append(Source(p, name, lic))
                n += 1
        kept[name] = {"licence": lic, "files": n}
    return sources, {"python": sys.version.split()[0], "stdlib_files": sum(s.origin == "stdlib" for s in sources),
                     "distributions_kept": kept, "distributions_dropped": dropped}


class Decontaminator:
    """Flags text that shares any ``n``-token window (lexical tokens: names, numbers, symbols; layout
    and comments between them ignored) with a benchmark solution, or holds a solution shorter than
    ``n`` tokens whole."""

    def __init__(self, solutions: Iterable[str], n: int = NGRAM):
        self.n = n
        # tuples, not hashes: str hashing differs between processes
        self.grams: dict[int, set[tuple[str, ...]]] = {n: set()}
        for code in solutions:
            toks = _LEX.findall(_strip_comments(code))
            if len(toks) < n:  # a solution shorter than one window must appear whole
                self.grams.setdefault(len(toks), set()).add(tuple(toks))
            self.grams[n].update(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))

    def contaminated(self, text: str) -> bool:
        """True when ``text`` shares an n-gram with any solution (or holds a short solution whole)."""
        toks = _LEX.findall(_strip_comments(text))
        return any(tuple(toks[i:i + k]) in grams for k, grams in self.grams.items() if k
                   for i in range(len(toks) - k + 1))


def _strip_comments(text: str) -> str:
    return re.sub(r"#[^\n]*", "", text)


def benchmark_solutions(mbpp_path: str | Path, humaneval_path: str | Path | None = None) -> list[str]:
    """Reference solutions of every MBPP task (all splits) and, if given, every HumanEval task
    (prompt + canonical solution, as the file ``HumanEval.jsonl[.gz]`` holds them)."""
    out = [json.loads(line)["code"] for line in Path(mbpp_path).read_text().splitlines() if line.strip()]
    if humaneval_path:
        p = Path(humaneval_path)
        if p.suffix == ".gz":
            with gzip.open(p, "rt") as f:
                text = f.read()
        else:
            text = p.read_text()
        out += [r["prompt"] + r["canonical_solution"] for r in map(json.loads, text.splitlines()) if r]
    return out


@dataclass
class CorpusStats:
    """What :func:`build_corpus` kept and why it left the rest out."""

    files_seen: int = 0
    files_kept: int = 0
    bytes_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    kept_by_origin: dict[str, int] = field(default_factory=dict)
    contaminated_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_DECON: Decontaminator | None = None


def _init_worker(decon: Decontaminator) -> None:
    global _DECON
    _DECON = decon


def _check_file(path: str, max_file_bytes: int = 400_000) -> tuple[str, str | None]:
    """(reason dropped or "ok", text if ok)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return "unreadable", None
    if not 64 <= len(raw) <= max_file_bytes:
        return "size", None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", None
    lines = text.splitlines() or [""]
    if max(map(len, lines)) > 1000 or len(text) / len(lines) > 100:
        return "long_lines", None
    assert _DECON is not None
    if _DECON.contaminated(text):
        return "contaminated", text
    return "ok", text


def build_corpus(sources: Sequence[Source], decon: Decontaminator, *, max_bytes: int, seed: int = 0,
                 workers: int = 1) -> tuple[list[str], CorpusStats]:
    """Read, filter, deduplicate and decontaminate ``sources`` (shuffled with ``seed``) until
    ``max_bytes`` of text are kept. Returns the documents and the statistics."""
    order = list(sources)
    random.Random(seed).shuffle(order)
    stats, docs, seen = CorpusStats(), [], set()
    reasons: Counter[str] = Counter()
    origins: Counter[str] = Counter()
    chunk = 512
    with ProcessPoolExecutor(max(1, workers), initializer=_init_worker, initargs=(decon,)) as pool:
        for lo in range(0, len(order), chunk):
            batch = order[lo:lo + chunk]
            for src, (reason, text) in zip(batch, pool.map(_check_file, [s.path for s in batch], chunksize=16)):
                stats.files_seen += 1
                if reason == "contaminated" and len(stats.contaminated_examples) < 20:
                    stats.contaminated_examples.append(src.path)
                if reason == "ok":
                    digest = hashlib.sha1(text.encode()).hexdigest()
                    if digest in seen:
                        reason = "duplicate"
                    else:
                        seen.add(digest)
                        docs.append(text)
                        stats.bytes_kept += len(text.encode())
                        origins[src.origin] += 1
                reasons[reason] += 1
            if stats.bytes_kept >= max_bytes:
                break
    stats.files_kept = len(docs)
    stats.dropped = {k: v for k, v in sorted(reasons.items()) if k != "ok"}
    stats.kept_by_origin = dict(origins.most_common())
    return docs, stats


def train_tokenizer(docs: Iterable[str], vocab_size: int, *, min_frequency: int = 2) -> Any:
    """A byte-level BPE (``tokenizers``) with ``<|pad|>`` = 0 and ``<|endoftext|>`` = 1."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    return tok


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer saved with ``tokenizer.save(path)``."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def encode_docs(tok: Any, docs: Sequence[str]) -> Any:
    """All documents as one ``uint16`` stream, each followed by ``<|endoftext|>``."""
    import numpy as np

    if tok.get_vocab_size() > 65535:
        raise ValueError("uint16 token stream needs a vocabulary below 65536")
    ids: list[int] = []
    for enc in tok.encode_batch(list(docs)):
        ids.extend(enc.ids)
        ids.append(EOS_ID)
    return np.asarray(ids, dtype=np.uint16)


def mbpp_prompt(text: str, tests: Sequence[str] = ()) -> str:
    """The prompt layout shared by fine-tuning, evaluation and the chat backend: the problem and its
    tests in a docstring, after which the model writes the code and ``<|endoftext|>``."""
    body = "\n".join([text.strip(), *[t.strip() for t in tests]])
    return f'"""\n{body}\n"""\n'


def mbpp_rows(path: str | Path, task_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """MBPP records from ``path`` (JSONL), optionally only ``task_ids``, in task-id order."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if task_ids is not None:
        keep = set(task_ids)
        rows = [r for r in rows if r["task_id"] in keep]
    return sorted(rows, key=lambda r: r["task_id"])


MBPP_TEST_IDS = range(11, 511)
MBPP_FINETUNE_IDS = [*range(1, 11), *range(511, 975)]  # prompt + validation + train splits


def finetune_examples(tok: Any, rows: Sequence[Mapping[str, Any]], max_len: int) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) per MBPP row: prompt + reference code + ``<|endoftext|>``; rows longer
    than ``max_len`` tokens are left out (never a cut solution). The loss is on the code part only."""
    out = []
    for r in rows:
        prompt = tok.encode(mbpp_prompt(r["text"], r["test_list"])).ids
        code = tok.encode(r["code"].replace("\r\n", "\n").strip() + "\n").ids + [EOS_ID]
        if len(prompt) + len(code) <= max_len:
            out.append((prompt + code, len(prompt)))
    return out
