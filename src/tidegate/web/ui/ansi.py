"""ANSI colour codes in log lines → HTML spans with classes.

The text is HTML-escaped first and the codes become `<span class="…">` only: the page's
policy allows no inline styles, so 256-colour and 24-bit colours map to the nearest of
the 16 basic ones (run.css styles `ansi-fg-0` … `ansi-fg-15`, `ansi-bg-*`, `ansi-bold`, …).
Other escape sequences (cursor moves, titles) are dropped rather than shown as garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from markupsafe import Markup, escape

ESC = "\x1b"
# SGR (colours, weight) is kept; any other CSI or OSC sequence, or a stray ESC, is dropped.
_SEQUENCE = re.compile(
    r"\x1b\[([0-9;:]*)m"  # SGR
    r"|\x1b\[[0-9;:?<=>]*[ -/]*[@-~]"  # other CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, to BEL or ST
    r"|\x1b[@-_]?"  # two-character escapes, or ESC alone
)

# xterm's 16 basic colours, to place the 256-colour and 24-bit ones.
_BASIC = (
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)
_CUBE = (0, 95, 135, 175, 215, 255)


@dataclass(frozen=True)
class _Style:
    fg: int | None = None
    bg: int | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False

    def classes(self) -> str:
        names = []
        if self.fg is not None:
            names.append(f"ansi-fg-{self.fg}")
        if self.bg is not None:
            names.append(f"ansi-bg-{self.bg}")
        for flag in ("bold", "dim", "italic", "underline"):
            if getattr(self, flag):
                names.append(f"ansi-{flag}")
        return " ".join(names)


_PLAIN = _Style()


def nearest_basic(red: int, green: int, blue: int) -> int:
    """The basic colour closest to an RGB one."""
    return min(
        range(16),
        key=lambda i: sum((a - b) ** 2 for a, b in zip(_BASIC[i], (red, green, blue), strict=True)),
    )


def from_256(index: int) -> int:
    """A 256-colour palette index as one of the 16 basic colours."""
    if index < 16:
        return max(index, 0)
    if index < 232:
        cube = index - 16
        return nearest_basic(_CUBE[cube // 36], _CUBE[cube // 6 % 6], _CUBE[cube % 6])
    grey = 8 + (index - 232) * 10
    return nearest_basic(grey, grey, grey)


def _extended(codes: list[int], at: int) -> tuple[int | None, int]:
    """A `38;5;n` / `38;2;r;g;b` colour starting at `codes[at]` (the 5 or 2): the colour
    and how many codes it used."""
    if at < len(codes) and codes[at] == 5 and at + 1 < len(codes):
        return from_256(min(codes[at + 1], 255)), 2
    if at < len(codes) and codes[at] == 2 and at + 3 < len(codes):
        red, green, blue = (min(c, 255) for c in codes[at + 1 : at + 4])
        return nearest_basic(red, green, blue), 4
    return None, len(codes) - at


def _apply(style: _Style, params: str) -> _Style:
    codes = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params)] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        i += 1
        if code == 0:
            style = _PLAIN
        elif code in (1, 2, 3, 4):
            flag = {1: "bold", 2: "dim", 3: "italic", 4: "underline"}[code]
            style = replace(style, **{flag: True})
        elif code == 22:
            style = replace(style, bold=False, dim=False)
        elif code == 23:
            style = replace(style, italic=False)
        elif code == 24:
            style = replace(style, underline=False)
        elif 30 <= code <= 37:
            style = replace(style, fg=code - 30)
        elif 90 <= code <= 97:
            style = replace(style, fg=code - 90 + 8)
        elif 40 <= code <= 47:
            style = replace(style, bg=code - 40)
        elif 100 <= code <= 107:
            style = replace(style, bg=code - 100 + 8)
        elif code == 39:
            style = replace(style, fg=None)
        elif code == 49:
            style = replace(style, bg=None)
        elif code in (38, 48):
            colour, used = _extended(codes, i)
            i += used
            style = replace(style, fg=colour) if code == 38 else replace(style, bg=colour)
    return style


def to_html(text: str) -> Markup:
    """`text` escaped, its colours as spans; text without ESC costs one escape."""
    if ESC not in text:
        return escape(text)
    parts: list[str] = []
    style = _PLAIN
    position = 0

    def emit(chunk: str) -> None:
        if not chunk:
            return
        classes = style.classes()
        if classes:
            parts.append(f'<span class="{classes}">{escape(chunk)}</span>')
        else:
            parts.append(str(escape(chunk)))

    for match in _SEQUENCE.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        if match.group(1) is not None:
            style = _apply(style, match.group(1))
    emit(text[position:])
    return Markup("".join(parts))  # noqa: S704 - every chunk went through escape()
