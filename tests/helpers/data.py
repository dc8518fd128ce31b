"""Where test data lives.

`FIXTURES` (tests/fixtures/) holds the small files the default run needs, copied from
../shared/data where their licence allows (see tests/fixtures/README.md), in the same layout.
`SHARED_DATA` is ../shared/data beside the repo: only tests marked `shared_data` may read it.
Those are left out of `make test` and run by `make test-shared` (CI runs both).
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures"
SHARED_DATA = (TESTS.parent.parent / "shared" / "data").resolve()
