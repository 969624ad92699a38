"""Write the mode table of src/flurm/modes.py into docs/migration.md, between its marker comments.

Run after changing the table: ``python scripts/mode_table.py`` (tests/unit/test_modes.py fails until then).
"""

from __future__ import annotations

from pathlib import Path

from flurm.modes import with_markdown_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "migration.md"


def main() -> None:
    DOC.write_text(with_markdown_table(DOC.read_text()))


if __name__ == "__main__":
    main()
