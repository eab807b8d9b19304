"""TUI tests: the end-to-end test uses the shared devnet fixture (tests/conftest.py) and the engine
tests' helpers (tests/engine/enginekit.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # enginekit
