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

from tidegate.workflows.shell_frames import (
    ANSI,
    ARITH,
    BACKTICK,
    CMD,
    COMMANDS,
    COMMENT,
    COND,
    DQ,
    HEREDOC,
    PARAM,
    SQ,
    SUB,
    Frame,
)
from tidegate.workflows.shell_refs import (
    ARITHMETIC,
    DELIMITER,
    ESCAPED,
    IN_ANSI,
    IN_DOUBLE,
    IN_SINGLE,
    WORD,
    Refusal,
    quoted_heredoc,
)

_BLANK = " \t"
_META = " \t\n;&|()<>"
_SUBSCRIPT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[")  # `a[i]=…`: the subscript is arithmetic
# Runs of characters that mean nothing: inside a word, in "…", in a heredoc body.
_PLAIN_WORD = re.compile(r"[^ \t\n;&|()<>\\'\"`$]+")
_PLAIN_DOUBLE = re.compile(r"[^\"\\`$]+")
_PLAIN_HEREDOC = re.compile(r"[^\n\\`$]+")
_ARITH_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})


def classify(text: str, marks: list[int]) -> list[str | Refusal]:
    """For each expression position in `text` (sorted): its reference, or a Refusal."""
    return _Lexer(text, marks).run()


class _Lexer:
    def __init__(self, text: str, marks: list[int]) -> None:
        self.text = text
        self.marks = marks
        self.next = 0  # index of the next mark to classify
        self.choices: list[str | Refusal] = []
        self.stack = [Frame(CMD)]
        self.conds: list[Frame] = []
        self.arith = 0  # arithmetic frames on the stack
        self.pending: deque[Frame] = deque()  # heredocs whose body starts at the next newline
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

    def push(self, frame: Frame) -> None:
        self.stack.append(frame)
        if frame.arith:
            self.arith += 1
        if frame.kind == COND:
            self.conds.append(frame)
        if frame.kind in COMMANDS:
            self.word_start = True

    def pop(self) -> None:
        if len(self.stack) == 1:
            return  # a stray closer at the top level: the shell's error, not ours
        frame = self.stack.pop()
        if frame.arith:
            self.arith -= 1
        if frame.kind == COND:
            self.conds.pop()
            self.close_cond(frame)
        self.word_start = False

    def close_cond(self, frame: Frame) -> None:
        if frame.arith_test:
            for index in frame.marks:
                self.choices[index] = ARITHMETIC
        frame.marks.clear()

    def mark(self) -> None:
        top = self.stack[-1]
        choice: str | Refusal
        if self.arith:
            choice = ARITHMETIC
        elif self.escaped:
            choice = ESCAPED
        elif self.bad_delimiter:
            choice = DELIMITER
        elif top.kind == SQ:
            choice = IN_SINGLE
        elif top.kind == ANSI:
            choice = IN_ANSI
        elif top.kind == HEREDOC:
            choice = quoted_heredoc(top.delimiter) if top.quoted else IN_DOUBLE
        elif top.kind == DQ:
            choice = IN_DOUBLE
        else:  # a word, a ${…} word, a comment, or whatever we could not tell
            choice = WORD
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
        if kind in COMMANDS:
            return self.command(i)
        if kind == DQ:
            return self.double(i)
        if kind == SQ:
            end = self.text.find("'", i, self.limit)
            if end == -1:
                return self.limit
            self.pop()
            return end + 1
        if kind == ANSI:
            return self.ansi(i)
        if kind == COMMENT:
            end = self.text.find("\n", i, self.limit)
            if end == -1:
                return self.limit
            self.pop()  # the newline is the command's: it may start a heredoc
            return end if end > i else self.step(i)
        if kind == PARAM:
            return self.param(i)
        if kind == ARITH:
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
        if top.kind == SUB and c == ")" and top.depth == 0:
            self.pop()
            return i + 1
        if top.kind == BACKTICK and c == "`":
            self.pop()
            return i + 1
        closes = c == "]" and self.at(i + 1) == "]" and self.at(i + 2) in ("", *_META)
        if top.kind == COND and start and closes:
            self.pop()
            return i + 2
        if c in _BLANK or c in ";&|":
            self.word_start = True
            return i + 1
        if c == "(":
            if start and self.at(i + 1) == "(":
                self.push(Frame(ARITH, closer="))", arith=True))
                return i + 2
            top.depth += 1 if top.kind == SUB else 0
            self.word_start = True
            return i + 1
        if c == ")":
            top.depth -= 1 if top.kind == SUB else 0
            self.word_start = True
            return i + 1
        if c in "<>":
            return self.redirection(i)
        if start:
            if c == "#":
                self.push(Frame(COMMENT))
                return i + 1
            if c == "[" and self.at(i + 1) == "[" and self.at(i + 2) in (*_BLANK, "\n"):
                self.push(Frame(COND))
                return i + 2
            test = self.text[i : i + 3] if i + 3 <= self.limit else ""
            if top.kind == COND and test in _ARITH_TESTS and self.at(i + 3) in ("", *_META):
                top.arith_test = True
            name = _SUBSCRIPT.match(self.text, i, self.limit)
            if name:
                self.word_start = False
                self.push(Frame(ARITH, closer="]", arith=True))
                return name.end()
        self.word_start = False
        plain = _PLAIN_WORD.match(self.text, i, self.limit)
        return plain.end() if plain else self.quoting(i, in_double=False)

    def redirection(self, i: int) -> int:
        self.word_start = True
        if self.at(i + 1) == "(":  # <(…) and >(…): process substitution
            self.push(Frame(SUB))
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
            heredoc = Frame(HEREDOC, delimiter="".join(word), quoted=quoted, strip=strip)
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
                self.push(Frame(ARITH, closer="]", arith=True))
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
            self.push(Frame(SQ))
        elif c == '"' and not in_double:
            self.push(Frame(DQ))
        elif c == "`":
            self.push(Frame(BACKTICK))
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
                self.push(Frame(ARITH, closer="))", arith=True))
                return i + 3
            self.push(Frame(SUB))
            return i + 2
        if d == "{":
            quoted = in_double or self.stack[-1].kind == HEREDOC
            self.push(Frame(PARAM, quoted=quoted))
            return i + 2
        if d == "[":  # $[ … ], bash's old arithmetic
            self.push(Frame(ARITH, closer="]", arith=True))
            return i + 2
        if d == "'" and not in_double:
            self.push(Frame(ANSI))
            return i + 2
        if d == '"' and not in_double:
            self.push(Frame(DQ))
            return i + 2
        if d and (d in "#?$!@*-" or d.isdigit()):
            return i + 2  # $#, $?, $1: not a comment, not a quote
        return i + 1
