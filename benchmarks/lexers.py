"""How highlighting time grows with hostile input, per Pygments lexer.

    python benchmarks/lexers.py              # the lexers participants' files are highlighted with
    python benchmarks/lexers.py --all-common # and the common ones shown as plain text, for comparison

Each lexer lexes text made of one repeated piece (quotes, backslashes,
brackets, tabs, carriage returns...), alone and after ``x = ``, at 8 KB and
at 32 KB; the worst case is printed. Four times the
text should take about four times as long: a growth near 16 means time
quadratic in the input, and a 1 MB file would then stall every build. Only
lexers whose worst growth stays near 4 belong in
``site_builder.render.LINEAR_LEXERS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from site_builder.render import LINEAR_LEXERS

PIECES = [
    "a", " ", "\\", "'", '"', "`", "#", "(", "[", "{", "-", "=", ":", "\n", "\t", "\r", "$", "%", "@", "0",
    ".", "e", '"""', "'''", "_", "*", "|", ">", "&", ";", "!", "?", ",", "x ", "a\\ ", '\\"', "0x", "1e",
    "'\\", "`\\", "<!--", "/*", "${", "$(", "[[", "{{", "f'", "f\"{",
]  # fmt: skip
# Common in submissions but shown as plain text, because their growth is quadratic.
PLAIN_COMMON = ["YamlLexer", "IniLexer", "MarkdownLexer", "MakefileLexer", "SLexer", "RstLexer"]
SIZES = (8_000, 32_000)


def lex_seconds(lexer_class: type, text: str) -> float:
    """The fastest of three lexings when they are quick (a few milliseconds are mostly noise), else one."""
    best = float("inf")
    for _ in range(3):
        lexer = lexer_class()
        started = time.perf_counter()
        for _ in lexer.get_tokens(text):
            pass
        best = min(best, time.perf_counter() - started)
        if best > 0.1:
            break
    return best


def worst_growth(lexer_class: type) -> tuple[float, float, str]:
    """The largest time at 32 KB, its growth from 8 KB, and the piece that caused it.

    Each piece is tried alone and after ``x = ``: some lexers stall only at
    the start of a line, others only after it.
    """
    worst = (0.0, 0.0, "")
    for piece in PIECES:
        for prefix in ("", "x = "):
            small, large = (prefix + (piece * (size // len(piece) + 1))[:size] for size in SIZES)
            seconds_small, seconds_large = lex_seconds(lexer_class, small), lex_seconds(lexer_class, large)
            growth = seconds_large / max(seconds_small, 1e-4)
            if seconds_large > worst[0]:
                worst = (seconds_large, growth, prefix + piece)
    return worst


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all-common", action="store_true", help="also time the common lexers shown as plain text")
    options = parser.parse_args(arguments)
    import pygments.lexers

    names = sorted(LINEAR_LEXERS) + (PLAIN_COMMON if options.all_common else [])
    print(f"{'lexer':16s} {'32 KB worst':>12s} {'growth 8->32 KB':>16s}  piece     verdict")
    for name in names:
        seconds, growth, piece = worst_growth(getattr(pygments.lexers, name))
        verdict = "linear" if growth < 8 else "QUADRATIC"
        kept = "highlighted" if name in LINEAR_LEXERS else "shown plain"
        print(f"{name:16s} {seconds:11.3f}s {growth:15.1f}x  {piece!r:8s}  {verdict} ({kept})", flush=True)
    print(f"\nReproduce: python benchmarks/lexers.py{' --all-common' if options.all_common else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
