"""ANSI colour codes in log lines: escaped text, colours as span classes, nothing else."""

from __future__ import annotations

import pytest

from tidegate.web.ui.ansi import from_256, nearest_basic, to_html


@pytest.mark.parametrize(
    ("line", "html"),
    [
        ("plain <b>&'\"", "plain &lt;b&gt;&amp;&#39;&#34;"),
        ("\x1b[31mred\x1b[0m after", '<span class="ansi-fg-1">red</span> after'),
        ("\x1b[1;32mok\x1b[m", '<span class="ansi-fg-2 ansi-bold">ok</span>'),
        ("\x1b[91;44mx", '<span class="ansi-fg-9 ansi-bg-4">x</span>'),
        ("\x1b[1ma\x1b[22mb", '<span class="ansi-bold">a</span>b'),
        (
            "\x1b[4;3mu\x1b[24mi\x1b[23m",
            '<span class="ansi-italic ansi-underline">u</span><span class="ansi-italic">i</span>',
        ),
        ("\x1b[33my\x1b[39mn", '<span class="ansi-fg-3">y</span>n'),
        # 256 colours and 24-bit colours become the nearest basic colour
        ("\x1b[38;5;196mr", '<span class="ansi-fg-9">r</span>'),
        ("\x1b[38;5;4mb", '<span class="ansi-fg-4">b</span>'),
        ("\x1b[48;2;0;0;238mb", '<span class="ansi-bg-4">b</span>'),
        # cursor moves, erase, titles and stray escapes are dropped
        ("\x1b[2K\x1b[1Gdone", "done"),
        ("\x1b]0;title\x07text", "text"),
        ("a\x1bb", "ab"),
        # a truncated extended colour does not break the line
        ("\x1b[38;5mx", "x"),
        # markup inside a coloured span is escaped too
        (
            "\x1b[31m<script>alert(1)</script>",
            '<span class="ansi-fg-1">&lt;script&gt;alert(1)&lt;/script&gt;</span>',
        ),
    ],
)
def test_lines_become_escaped_html_with_colour_classes(line: str, html: str) -> None:
    assert str(to_html(line)) == html


def test_colours_map_to_the_nearest_basic_one() -> None:
    assert nearest_basic(250, 250, 250) == 15
    assert nearest_basic(0, 0, 0) == 0
    assert from_256(1) == 1
    assert from_256(232) == 0  # the darkest grey
    assert from_256(255) == 7  # the lightest grey
