"""The shell lexer's stack frames: one for each context a `${{ }}` can stand in."""

from __future__ import annotations

from dataclasses import dataclass, field

# Frame kinds. Command-like frames hold commands: words, operators, comments, heredocs.
CMD, SUB, BACKTICK, COND = "cmd", "sub", "backtick", "cond"
DQ, SQ, ANSI, COMMENT = "dq", "sq", "ansi", "comment"
PARAM, ARITH, HEREDOC = "param", "arith", "heredoc"
COMMANDS = frozenset({CMD, SUB, BACKTICK, COND})


@dataclass
class Frame:
    kind: str
    closer: str = ""  # ARITH: "))" or "]"
    depth: int = 0  # nested ( or [ in SUB and ARITH
    arith: bool = False  # counts toward the lexer's arith count
    quoted: bool = False  # PARAM: inside "…" or a heredoc; HEREDOC: a quoted delimiter
    naming: bool = True  # PARAM: still reading the parameter's name
    delimiter: str = ""  # HEREDOC
    strip: bool = False  # HEREDOC: <<- strips leading tabs
    arith_test: bool = False  # COND: holds -eq, -lt, …
    marks: list[int] = field(default_factory=list)  # COND: the expressions inside
