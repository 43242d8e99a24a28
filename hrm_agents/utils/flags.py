"""One command-line flag style for every entry point: ``--max_iters`` (underscores), with the hyphen
spelling ``--max-iters`` accepted as an alias, and one-line errors."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn


class FlagParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose long options exist in both spellings (``--no_progress`` is
    shown, ``--no-progress`` also works) and whose errors are one line ending in ``(see --help)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:  # type: ignore[override]
        """``add_argument`` with each ``--long_option`` also registered as ``--long-option``."""
        return super().add_argument(*_spellings(names), **kwargs)

    def add_argument_group(self, *args: Any, **kwargs: Any) -> argparse._ArgumentGroup:
        group = super().add_argument_group(*args, **kwargs)
        plain = group.add_argument
        group.add_argument = lambda *names, **kw: plain(*_spellings(names), **kw)  # type: ignore[method-assign]
        return group

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _spellings(names: tuple[str, ...]) -> list[str]:
    """``("--no-progress",)`` -> ``["--no_progress", "--no-progress"]`` (underscore spelling first)."""
    out: list[str] = []
    for name in names:
        if name.startswith("--"):
            out += [f"--{name[2:].replace('-', '_')}", f"--{name[2:].replace('_', '-')}"]
        else:
            out.append(name)
    return list(dict.fromkeys(out))
