"""Sharing a vault through git: the merge of session files by message id.

- `markers`: git's conflict markers in a file (where they are, each side's text);
- `fields`: the frontmatter merged field by field;
- `merge`: the three-way merge of a session file (the `merge-file` driver and `resolve`);
- `repo`: the git commands a clone needs (its top, its config, the unmerged stages);
- `setup`: what `codearchitect git setup` writes, as a list of steps;
- `resolve`: files with conflict markers and session ids claimed by several files.

This package imports nothing at import time, so that `vault/frontmatter_reader.py` can read
`markers` without a cycle.
"""
