"""Write the list of what flurm does not support yet (src/flurm/state/support.py) into README.md, between
its marker comments.

Run after changing the table: ``python scripts/support_list.py`` (tests/unit/test_support.py fails
until then).
"""

from __future__ import annotations

from pathlib import Path

from flurm.state.support import with_markdown_list

DOC = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    DOC.write_text(with_markdown_list(DOC.read_text()))


if __name__ == "__main__":
    main()
