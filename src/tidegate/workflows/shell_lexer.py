"""Where a `${{ }}` stands in a POSIX shell script: the reference that carries its value.

`classify` reads a script with its expressions taken out (their positions given) and
says, for each, what to put there: a reference to the variable "V" quoted for the
context, or a Refusal. It knows words, '…', "…", $'…', backslashes, comments,
$(…), backticks, ${…}, heredocs (quoted or not, <<-), here-strings, [[ … ]] and
arithmetic. One pass with an explicit stack and lookahead bounded by the next
expression: linear in the script's length, and total on any input.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

_BLANK = " \t"
_META = " \t\n;&|()<>"
_SUBSCRIPT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[")  # `a[i]=…`: the subscript is arithmetic
# Runs of characters that mean nothing: inside a word, in "…", in a heredoc body.
_PLAIN_WORD = re.compile(r"[^ \t\n;&|()<>\\'\"`$]+")
_PLAIN_DOUBLE = re.compile(r"[^\"\\`$]+")
_PLAIN_HEREDOC = re.compile(r"[^\n\\`$]+")
_ARITH_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_SAFE_FORMS = "read a variable instead: $TIDEGATE_PUSHER, $TIDEGATE_TAG, … or one set with env:"


# References by context; "V" stands for the variable's name.
_WORD = '"${V}"'
_IN_DOUBLE = "${V}"
_IN_SINGLE = "'\"${V}\"'"
_IN_ANSI = "'\"${V}\"$'"


@dataclass(frozen=True)
class Refusal:
    """Why no reference can carry the value there; reads after the expression."""

    why: str


_ARITHMETIC = Refusal(
    "is in arithmetic ($(( )), (( )), [[ -eq ]], an array subscript or ${x:offset}), where "
    "bash evaluates a value and can run commands from it; set a variable with env: and "
    "check it is a number before using it there"
)
_ESCAPED = Refusal(
    "follows a backslash, which would escape the quoting that keeps its value one word; "
    "remove it (write \\\\ for a literal backslash)"
)
_DELIMITER = Refusal("cannot be part of a heredoc delimiter")


def _quoted_heredoc(delimiter: str) -> Refusal:
    return Refusal(
        f"is in a quoted heredoc (<<'{delimiter}'), where the shell expands nothing, so "
        f"its value could only be spliced into the script; use an unquoted heredoc "
        f"(<<{delimiter}), or {_SAFE_FORMS}"
    )


# Frame kinds. Command-like frames hold commands: words, operators, comments, heredocs.
_CMD, _SUB, _BACKTICK, _COND = "cmd", "sub", "backtick", "cond"
_DQ, _SQ, _ANSI, _COMMENT = "dq", "sq", "ansi", "comment"
_PARAM, _ARITH, _HEREDOC = "param", "arith", "heredoc"
_COMMANDS = frozenset({_CMD, _SUB, _BACKTICK, _COND})


@dataclass
class _Frame:
    kind: str
    closer: str = ""  # _ARITH: "))" or "]"
    depth: int = 0  # nested ( or [ in _SUB and _ARITH
    arith: bool = False  # counts toward _Lexer.arith
    quoted: bool = False  # _PARAM: inside "…" or a heredoc; _HEREDOC: a quoted delimiter
    naming: bool = True  # _PARAM: still reading the parameter's name
    delimiter: str = ""  # _HEREDOC
    strip: bool = False  # _HEREDOC: <<- strips leading tabs
    arith_test: bool = False  # _COND: holds -eq, -lt, …
    marks: list[int] = field(default_factory=list)  # _COND: the expressions inside


def classify(text: str, marks: list[int]) -> list[str | Refusal]:
    """For each expression position in `text` (sorted): its reference, or a Refusal."""
    return _Lexer(text, marks).run()


class _Lexer:
    def __init__(self, text: str, marks: list[int]) -> None:
        self.text = text
        self.marks = marks
        self.next = 0  # index of the next mark to classify
        self.choices: list[str | Refusal] = []
        self.stack = [_Frame(_CMD)]
        self.conds: list[_Frame] = []
        self.arith = 0  # arithmetic frames on the stack
        self.pending: deque[_Frame] = deque()  # heredocs whose body starts at the next newline
        self.word_start = True
        self.line_start = False  # at the start of a heredoc body line
        self.escaped = False  # a backslash right before the next mark
        self.bad_delimiter = False  # the next mark is glued to a heredoc delimiter

    @property
    def limit(self) -> int:
        """Characters before this index follow each other with no expression between."""
        return self.marks[self.next] if self.next < len(self.marks) else len(self.text)

    def at(self, i: int) -> str:
        return self.text[i] if i < self.limit else ""

    def run(self) -> list[str | Refusal]:
        i = 0
        while True:
            while self.next < len(self.marks) and self.marks[self.next] <= i:
                self.mark()
            if i >= len(self.text):
                break
            i = max(i + 1, self.step(i))  # always moves on
        for cond in self.conds:  # an unclosed [[ … ]]
            self.close_cond(cond)
        return self.choices

    # -- frames ------------------------------------------------------------------------

    def push(self, frame: _Frame) -> None:
        self.stack.append(frame)
        if frame.arith:
            self.arith += 1
        if frame.kind == _COND:
            self.conds.append(frame)
        if frame.kind in _COMMANDS:
            self.word_start = True

    def pop(self) -> None:
        if len(self.stack) == 1:
            return  # a stray closer at the top level: the shell's error, not ours
        frame = self.stack.pop()
        if frame.arith:
            self.arith -= 1
        if frame.kind == _COND:
            self.conds.pop()
            self.close_cond(frame)
        self.word_start = False

    def close_cond(self, frame: _Frame) -> None:
        if frame.arith_test:
            for index in frame.marks:
                self.choices[index] = _ARITHMETIC
        frame.marks.clear()

    def mark(self) -> None:
        top = self.stack[-1]
        choice: str | Refusal
        if self.arith:
            choice = _ARITHMETIC
        elif self.escaped:
            choice = _ESCAPED
        elif self.bad_delimiter:
            choice = _DELIMITER
        elif top.kind == _SQ:
            choice = _IN_SINGLE
        elif top.kind == _ANSI:
            choice = _IN_ANSI
        elif top.kind == _HEREDOC:
            choice = _quoted_heredoc(top.delimiter) if top.quoted else _IN_DOUBLE
        elif top.kind == _DQ:
            choice = _IN_DOUBLE
        else:  # a word, a ${…} word, a comment, or whatever we could not tell
            choice = _WORD
        if self.conds:
            self.conds[-1].marks.append(len(self.choices))
        self.choices.append(choice)
        self.next += 1
        self.escaped = self.bad_delimiter = self.line_start = False
        self.word_start = False
        top.naming = False

    # -- one step: returns the index of the next character to read ---------------------

    def step(self, i: int) -> int:
        kind = self.stack[-1].kind
        if kind in _COMMANDS:
            return self.command(i)
        if kind == _DQ:
            return self.double(i)
        if kind == _SQ:
            end = self.text.find("'", i, self.limit)
            if end == -1:
                return self.limit
            self.pop()
            return end + 1
        if kind == _ANSI:
            return self.ansi(i)
        if kind == _COMMENT:
            end = self.text.find("\n", i, self.limit)
            if end == -1:
                return self.limit
            self.pop()  # the newline is the command's: it may start a heredoc
            return end if end > i else self.step(i)
        if kind == _PARAM:
            return self.param(i)
        if kind == _ARITH:
            return self.arithmetic(i)
        return self.heredoc(i)

    def command(self, i: int) -> int:
        top = self.stack[-1]
        c = self.text[i]
        start = self.word_start
        if c == "\n":
            self.word_start = True
            if self.pending:
                self.push(self.pending.popleft())
                self.line_start = True
            return i + 1
        if top.kind == _SUB and c == ")" and top.depth == 0:
            self.pop()
            return i + 1
        if top.kind == _BACKTICK and c == "`":
            self.pop()
            return i + 1
        closes = c == "]" and self.at(i + 1) == "]" and self.at(i + 2) in ("", *_META)
        if top.kind == _COND and start and closes:
            self.pop()
            return i + 2
        if c in _BLANK or c in ";&|":
            self.word_start = True
            return i + 1
        if c == "(":
            if start and self.at(i + 1) == "(":
                self.push(_Frame(_ARITH, closer="))", arith=True))
                return i + 2
            top.depth += 1 if top.kind == _SUB else 0
            self.word_start = True
            return i + 1
        if c == ")":
            top.depth -= 1 if top.kind == _SUB else 0
            self.word_start = True
            return i + 1
        if c in "<>":
            return self.redirection(i)
        if start:
            if c == "#":
                self.push(_Frame(_COMMENT))
                return i + 1
            if c == "[" and self.at(i + 1) == "[" and self.at(i + 2) in (*_BLANK, "\n"):
                self.push(_Frame(_COND))
                return i + 2
            test = self.text[i : i + 3] if i + 3 <= self.limit else ""
            if top.kind == _COND and test in _ARITH_TESTS and self.at(i + 3) in ("", *_META):
                top.arith_test = True
            name = _SUBSCRIPT.match(self.text, i, self.limit)
            if name:
                self.word_start = False
                self.push(_Frame(_ARITH, closer="]", arith=True))
                return name.end()
        self.word_start = False
        plain = _PLAIN_WORD.match(self.text, i, self.limit)
        return plain.end() if plain else self.quoting(i, in_double=False)

    def redirection(self, i: int) -> int:
        self.word_start = True
        if self.at(i + 1) == "(":  # <(…) and >(…): process substitution
            self.push(_Frame(_SUB))
            return i + 2
        if self.text[i] == "<" and self.at(i + 1) == "<":
            if self.at(i + 2) == "<":  # <<< a here-string: a word like any other
                return i + 3
            return self.heredoc_word(i + 2)
        return i + 1

    def heredoc_word(self, j: int) -> int:
        """Read the delimiter after `<<`; its body starts after the next newline."""
        strip = self.at(j) == "-"
        j += strip
        while self.at(j) in _BLANK and self.at(j):
            j += 1
        limit, text = self.limit, self.text
        word: list[str] = []
        quoted = False
        while j < limit and text[j] not in _META:
            c = text[j]
            if c == "\\":
                quoted = True
                word.append(text[j + 1 : j + 2] if j + 1 < limit else "")
                j += 2
            elif c in "'\"":
                quoted = True
                end = text.find(c, j + 1, limit)
                end = limit if end == -1 else end
                word.append(text[j + 1 : end])
                j = end + 1
            else:
                word.append(c)
                j += 1
        j = min(j, limit)
        if j == limit and self.next < len(self.marks):
            self.bad_delimiter = True  # an expression is (part of) the delimiter
        elif word or quoted:
            heredoc = _Frame(_HEREDOC, delimiter="".join(word), quoted=quoted, strip=strip)
            self.pending.append(heredoc)
        self.word_start = False
        return j

    def heredoc(self, i: int) -> int:
        frame, text = self.stack[-1], self.text
        if self.line_start:
            self.line_start = False
            end = text.find("\n", i)
            end = len(text) if end == -1 else end
            line = text[i:end].lstrip("\t") if frame.strip else text[i:end]
            no_mark = self.next == len(self.marks) or self.marks[self.next] > end
            if no_mark and line == frame.delimiter:
                self.pop()
                self.word_start = True
                if self.pending:
                    self.push(self.pending.popleft())
                    self.line_start = True
                return end + 1
        if frame.quoted:
            end = text.find("\n", i, self.limit)
            if end == -1:
                return self.limit
            self.line_start = True
            return end + 1
        c = text[i]
        if c == "\n":
            self.line_start = True
            return i + 1
        plain = _PLAIN_HEREDOC.match(text, i, self.limit)
        return plain.end() if plain else self.quoting(i, in_double=True)

    def double(self, i: int) -> int:
        if self.text[i] == '"':
            self.pop()
            return i + 1
        plain = _PLAIN_DOUBLE.match(self.text, i, self.limit)
        return plain.end() if plain else self.quoting(i, in_double=True)

    def ansi(self, i: int) -> int:
        c = self.text[i]
        if c == "'":
            self.pop()
            return i + 1
        if c == "\\":
            return self.escape(i)
        return i + 1

    def param(self, i: int) -> int:
        frame = self.stack[-1]
        c = self.text[i]
        if c == "}":
            self.pop()
            return i + 1
        if frame.naming:
            if c.isalnum() or c == "_" or (c in "#!@*?$-" and self.text[i - 2 : i] == "${"):
                return i + 1
            frame.naming = False
            if c == "[":
                self.push(_Frame(_ARITH, closer="]", arith=True))
                return i + 1
            if c == ":" and self.at(i + 1) not in ("-", "=", "+", "?"):
                frame.arith = True  # ${x:offset:length}
                self.arith += 1
                return i + 1
        if c == "'" and frame.quoted:
            return i + 1  # literal in "${x:-'…'}"
        return self.quoting(i, in_double=False)

    def arithmetic(self, i: int) -> int:
        frame = self.stack[-1]
        c = self.text[i]
        opener = "(" if frame.closer == "))" else "["
        if c == opener:
            frame.depth += 1
            return i + 1
        if c == frame.closer[0]:
            if frame.depth == 0 and (frame.closer == "]" or self.at(i + 1) == ")"):
                self.pop()
                return i + len(frame.closer)
            frame.depth = max(0, frame.depth - 1)
            return i + 1
        return self.quoting(i, in_double=False)

    def quoting(self, i: int, *, in_double: bool) -> int:
        """Quotes, escapes and expansions, shared by most frames."""
        c = self.text[i]
        if c == "\\":
            return self.escape(i)
        if c == "'" and not in_double:
            self.push(_Frame(_SQ))
        elif c == '"' and not in_double:
            self.push(_Frame(_DQ))
        elif c == "`":
            self.push(_Frame(_BACKTICK))
        elif c == "$":
            return self.dollar(i, in_double=in_double)
        return i + 1

    def escape(self, i: int) -> int:
        if i + 1 >= self.limit and self.next < len(self.marks):
            self.escaped = True
            return i + 1
        return i + 2

    def dollar(self, i: int, *, in_double: bool) -> int:
        d = self.at(i + 1)
        if d == "(":
            if self.at(i + 2) == "(":
                self.push(_Frame(_ARITH, closer="))", arith=True))
                return i + 3
            self.push(_Frame(_SUB))
            return i + 2
        if d == "{":
            quoted = in_double or self.stack[-1].kind == _HEREDOC
            self.push(_Frame(_PARAM, quoted=quoted))
            return i + 2
        if d == "[":  # $[ … ], bash's old arithmetic
            self.push(_Frame(_ARITH, closer="]", arith=True))
            return i + 2
        if d == "'" and not in_double:
            self.push(_Frame(_ANSI))
            return i + 2
        if d == '"' and not in_double:
            self.push(_Frame(_DQ))
            return i + 2
        if d and (d in "#?$!@*-" or d.isdigit()):
            return i + 2  # $#, $?, $1: not a comment, not a quote
        return i + 1
