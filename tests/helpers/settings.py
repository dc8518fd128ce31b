"""Index settings for tests: background timings short enough for a test run."""

from __future__ import annotations

from indexer import IndexSettings

# The defaults are tuned for real use; these make watcher and leader tests quick.
FAST = IndexSettings(
    debounce_ms=60,
    step_ms=20,
    apply_interval=0.05,
    leader_retry=0.2,
    reconcile_interval=3600,
    poll_interval=0.2,
)
