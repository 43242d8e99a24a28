"""Read the records of a W&B offline run's transaction log (``run-<id>.wandb``) in tests.

wandb writes records as protobufs (``wandb.proto.wandb_internal_pb2.Record``) in LevelDB's log
framing: a 7-byte file header, then 32 KiB blocks of chunks, each ``crc32 (4) | length (2, LE) |
type (1: full, 2: first, 3: middle, 4: last)`` followed by its bytes. wandb 0.31 ships no Python
reader, so this is the one the tests use (checksums are not verified).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

HEADER, BLOCK, CHUNK = 7, 32768, 7


def records(path: Path) -> list[Any]:
    """Every record of the log, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    out, buf, pos = [], b"", HEADER
    while pos + CHUNK <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK])
        if kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        if pos + CHUNK + length > len(data):  # a chunk still being written
            break
        buf += data[pos + CHUNK:pos + CHUNK + length]
        pos += CHUNK + length
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
            buf = b""
    return out


def _items(items) -> dict[str, str]:
    return {i.key or "/".join(i.nested_key): i.value_json for i in items}


def read_run(run_dir: Path, timeout: float = 30.0) -> dict[str, Any]:
    """``{"config", "history" (list of dicts), "summary", "artifacts" (file names), "exit_code"}`` of
    the single offline run under ``run_dir/wandb``. wandb's service may still be writing the log
    when ``run.finish()`` returns: waits (up to ``timeout`` s) for the run's exit record."""
    [log] = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    deadline = time.monotonic() + timeout
    while not any(r.WhichOneof("record_type") == "exit" for r in records(log)) and time.monotonic() < deadline:
        time.sleep(0.2)
    out: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "artifacts": [], "exit_code": None}
    for rec in records(log):
        kind = rec.WhichOneof("record_type")
        if kind == "config":
            out["config"].update(_items(rec.config.update))
        elif kind == "history":
            out["history"].append(_items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(_items(rec.summary.update))
        elif kind == "artifact":
            out["artifacts"] += [m.path for m in rec.artifact.manifest.contents]
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    return out
