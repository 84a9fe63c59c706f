"""Where things are, for every tier and the benchmarks."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "tests" / "notebooks"
