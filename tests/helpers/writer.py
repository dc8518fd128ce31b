"""A child process that appends messages and prints each acknowledged id (flushed).

    python -m tests.helpers.writer ROOT SESSION COUNT TAG [SIZE]

Used by the concurrency and crash tests: what it printed was acknowledged, so it must be
in the file after anything, including SIGKILL.
"""

from __future__ import annotations

import sys

from vault import Vault


def main() -> None:
    root, session, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    vault = Vault(root)
    padding = "x" * size
    print("ready", flush=True)
    for i in range(count):
        result = vault.append_message(session, "user", f"{tag} {i}\n{padding}")
        print(result.message.id, flush=True)


if __name__ == "__main__":
    main()
