"""A child process that appends messages and prints each acknowledged id (flushed).

    python -m tests.helpers.writer ROOT SESSION COUNT TAG [SIZE]
    python -m tests.helpers.writer --forks

Used by the concurrency and crash tests: what it printed was acknowledged, so it must be
in the file after anything, including SIGKILL.

`--forks` serves many writers from one interpreter (the crash test kills a hundred of them;
starting Python and importing the vault for each cost most of its time): each stdin line
`ROOT SESSION COUNT TAG SIZE OUT` forks a writer that prints to the file OUT instead (its
`ready`, then each acknowledged id, written before the next append starts) and answers
with the writer's pid; `wait PID` reaps it and answers `done`.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from vault import Vault


def write(root: str, session: str, count: int, tag: str, size: int, out: TextIO) -> None:
    vault = Vault(root)
    padding = "x" * size
    print("ready", file=out, flush=True)
    for i in range(count):
        result = vault.append_message(session, "user", f"{tag} {i}\n{padding}")
        print(result.message.id, file=out, flush=True)


def serve_forks() -> None:
    for line in sys.stdin:
        words = line.split()
        if words[0] == "wait":
            os.waitpid(int(words[1]), 0)
            print("done", flush=True)
            continue
        root, session, count, tag, size, out = words
        pid = os.fork()
        if pid == 0:  # the writer: never returns into the loop
            try:
                with open(out, "w", encoding="utf-8") as f:
                    write(root, session, int(count), tag, int(size), f)
            finally:
                os._exit(0)
        print(pid, flush=True)


def main() -> None:
    if sys.argv[1:] == ["--forks"]:
        serve_forks()
        return
    root, session, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    write(root, session, count, tag, size, sys.stdout)


if __name__ == "__main__":
    main()
