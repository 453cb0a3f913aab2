"""Faster lexing with Pygments' own rules.

A Pygments RegexLexer tries the rules of its current state one after the
other, one Python call each, until one matches: about thirty failed calls
per token of Python code, most of the time of a cold build. Two things
remove them while keeping the very same rule choice:

- a rule can only match here if the character here can begin it (or it can
  match the empty string), which a look at the parsed pattern tells; so per
  state and character, only the rules that could match are candidates;
- Python's re tries the branches of ``(r1)|(r2)|...`` in order and keeps
  the first that matches, exactly the rule the loop would pick; so one
  joined pattern of the candidates finds the rule in a single call, and the
  rule's own pattern then runs once more to give its callback its groups.

The tokens are identical (the tests compare them over the standard library
and several lexers); a state whose rules cannot be joined keeps the loop.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=")
_LEADING_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")
_SCOPED_FLAGS = (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL), ("x", re.VERBOSE))


def accelerate_lexer(lexer: Any) -> Any:
    """``lexer``, its rules found by :class:`_StateMatcher` when it is a plain RegexLexer."""
    from pygments.lexer import RegexLexer

    if isinstance(lexer, RegexLexer) and type(lexer).get_tokens_unprocessed is RegexLexer.get_tokens_unprocessed:
        lexer.get_tokens_unprocessed = functools.partial(_joined_tokens, lexer, _state_matchers(type(lexer)))
    return lexer


@functools.lru_cache(maxsize=None)
def _state_matchers(lexer_class: type) -> _StateMatchers:
    return _StateMatchers(lexer_class._tokens)  # type: ignore[attr-defined]


class _StateMatchers(dict):  # type: ignore[type-arg]
    """A matcher per state, built when the state is first entered: most texts visit few states."""

    def __init__(self, tokendefs: Mapping[str, Sequence[tuple[Any, Any, Any]]]) -> None:
        super().__init__()
        self.tokendefs = tokendefs

    def __missing__(self, state: str) -> _StateMatcher | None:
        matcher = self[state] = _StateMatcher.for_rules(self.tokendefs[state])
        return matcher


class _StateMatcher:
    """Finds the first rule of one state that matches, with one joined pattern per next character."""

    def __init__(self, rules: Sequence[tuple[Any, Any, Any]], branches: list[str], groups: list[int], starts: list[Any]) -> None:
        self.rules = rules
        self.branches = branches  # each rule's pattern in a capturing group, with its own flags
        self.groups = groups  # how many groups each rule's pattern has
        self.starts = starts  # per rule: a pattern for the characters that can begin a match, or None for any
        self.by_character: dict[str, tuple[Callable[[str, int], Any], dict[int, Any]]] = {}

    @classmethod
    def for_rules(cls, rules: Sequence[tuple[Any, Any, Any]]) -> _StateMatcher | None:
        branches, groups, starts = [], [], []
        for match, _action, _new_state in rules:
            pattern = getattr(match, "__self__", None)
            if not _joinable(pattern):
                return None
            body = _LEADING_FLAGS.sub("", pattern.pattern, count=1)
            on = "".join(letter for letter, flag in _SCOPED_FLAGS if pattern.flags & flag)
            off = "".join(letter for letter, flag in _SCOPED_FLAGS if not pattern.flags & flag)
            branches.append(f"((?{on}-{off}:{body}))" if off else f"((?{on}:{body}))")
            groups.append(pattern.groups)
            starts.append(_first_characters(pattern))
        matcher = cls(rules, branches, groups, starts)
        try:
            matcher.joined(tuple(range(len(rules))))
        except (re.error, RecursionError, OverflowError):
            return None
        return matcher

    def entry(self, character: str) -> tuple[Callable[[str, int], Any], dict[int, Any]]:
        """For a next character: the joined pattern of the rules that can match, and the rule of each group."""
        found = self.by_character.get(character)
        if found is None:
            candidates = tuple(index for index, start in enumerate(self.starts) if start is None or (character and start(character)))
            match, owner = self.joined(candidates) if candidates else (_NO_MATCH, {})
            found = self.by_character[character] = (match, {group: self.rules[index] for group, index in owner.items()})
        return found

    @functools.lru_cache(maxsize=None)  # noqa: B019 - matchers live as long as their lexer class
    def joined(self, candidates: tuple[int, ...]) -> tuple[Callable[[str, int], Any], dict[int, int]]:
        """One alternation of the candidate rules, in order, and the rule of each wrapping group."""
        owner: dict[int, int] = {}
        group = 1
        for index in candidates:
            owner[group] = index
            group += 1 + self.groups[index]
        return re.compile("|".join(self.branches[index] for index in candidates)).match, owner


def _joinable(pattern: Any) -> bool:
    """A str pattern whose groups may be renumbered and whose flags can be scoped."""
    return (
        isinstance(pattern, re.Pattern)
        and isinstance(pattern.pattern, str)
        and not pattern.groupindex
        and not _GROUP_REFERENCE.search(pattern.pattern)
        and not pattern.flags & (re.ASCII | re.LOCALE)
    )


def _first_characters(pattern: re.Pattern[str]) -> Callable[[str], Any] | None:
    """A test for the characters a match of ``pattern`` can begin with; None when it may be any or none."""
    try:
        from re import _constants as constants, _parser as parser  # type: ignore[attr-defined]

        classes, nullable = _first_of(parser.parse(pattern.pattern, pattern.flags), constants)
    except Exception:  # an unknown pattern shape: the rule stays a candidate everywhere
        return None
    if classes is None or nullable or not classes:
        return None
    return re.compile("|".join(sorted(set(classes))), pattern.flags & re.IGNORECASE).match


_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
               "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W"}  # fmt: skip


def _first_of(items: Iterable[tuple[Any, Any]], c: Any) -> tuple[list[str] | None, bool]:
    """Patterns of the characters a sequence can begin with (None: any), and whether it can match empty."""
    found: list[str] = []
    for op, argument in items:
        classes, nullable = _first_of_item(op, argument, c)
        if classes is None:
            return None, False
        found += classes
        if not nullable:
            return found, False
    return found, True


def _first_of_item(op: Any, argument: Any, c: Any) -> tuple[list[str] | None, bool]:
    if op is c.LITERAL:
        return [re.escape(chr(argument))], False
    if op is c.NOT_LITERAL:
        return [f"[^{re.escape(chr(argument))}]"], False
    if op is c.IN:
        character_class = _character_class(argument, c)
        return ([character_class] if character_class else None), False
    if op is c.BRANCH:
        alternatives = [_first_of(branch, c) for branch in argument[1]]
        if any(classes is None for classes, _ in alternatives):
            return None, False
        return [item for classes, _ in alternatives for item in classes or ()], any(n for _, n in alternatives)
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, inner = argument
        return (None, False) if add_flags or del_flags else _first_of(inner, c)
    if op is getattr(c, "ATOMIC_GROUP", None):
        return _first_of(argument, c)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, _high, inner = argument
        classes, nullable = _first_of(inner, c)
        return classes, nullable or low == 0
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return [], True  # zero-width: it only narrows what follows
    return None, False


def _character_class(items: Iterable[tuple[Any, Any]], c: Any) -> str | None:
    parts, negate = [], False
    for op, argument in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            parts.append(re.escape(chr(argument)))
        elif op is c.RANGE:
            parts.append(f"{re.escape(chr(argument[0]))}-{re.escape(chr(argument[1]))}")
        elif op is c.CATEGORY and str(argument) in _CATEGORIES:
            parts.append(_CATEGORIES[str(argument)])
        else:
            return None
    return f"[{'^' if negate else ''}{''.join(parts)}]" if parts else None


def _no_match(text: str, position: int) -> None:
    return None


_NO_MATCH = _no_match  # the "joined pattern" of a character no rule can start with


def _joined_tokens(lexer: Any, matchers: _StateMatchers, text: str, stack: Sequence[str] = ("root",)) -> Iterator[tuple[int, Any, str]]:
    """Pygments' ``RegexLexer.get_tokens_unprocessed``, each rule found by a :class:`_StateMatcher`.

    The hot loop of a cold build, once per token: the matcher's table is
    read inline rather than through a method call.
    """
    from pygments.token import Error, Whitespace, _TokenType

    tokendefs = lexer._tokens
    position, length = 0, len(text)
    statestack = list(stack)
    rules, matcher = tokendefs[statestack[-1]], matchers[statestack[-1]]
    table = matcher.by_character if matcher is not None else None
    while True:
        if table is not None:
            character = text[position] if position < length else ""
            match, owner = table.get(character) or matcher.entry(character)
            found = match(text, position)
            group = found.lastindex if found is not None else 0
            rule = owner[group] if found is not None else None
        else:
            rule, found, group = _first_rule(rules, text, position)
        if rule is None:
            # No rule matched: a newline resets to the root state, anything else is an error token.
            if position >= length:
                return
            if text[position] == "\n":
                statestack = ["root"]
                rules, matcher = tokendefs["root"], matchers["root"]
                table = matcher.by_character if matcher is not None else None
                yield position, Whitespace, "\n"
            else:
                yield position, Error, text[position]
            position += 1
            continue
        action, new_state = rule[1], rule[2]
        end = found.end(group)  # the rule's group in the joined match spans exactly the rule's own match
        if action is not None:
            if type(action) is _TokenType:
                yield position, action, text[position:end]
            else:
                # A callback reads the rule's own groups: match the rule alone.
                yield from action(lexer, found if group == 0 else rule[0](text, position))
        position = end
        if new_state is not None:
            _change_state(statestack, new_state)
            rules, matcher = tokendefs[statestack[-1]], matchers[statestack[-1]]
            table = matcher.by_character if matcher is not None else None


def _first_rule(rules: Sequence[Any], text: str, position: int) -> tuple[Any, Any, int]:
    """Pygments' own search, for a state whose rules could not be joined; group 0 is the whole match."""
    for rule in rules:
        match = rule[0](text, position)
        if match:
            return rule, match, 0
    return None, None, 0


def _change_state(statestack: list[str], new_state: Any) -> None:
    """Push or pop states exactly as Pygments' RegexLexer does."""
    if isinstance(new_state, tuple):
        for state in new_state:
            if state == "#pop":
                if len(statestack) > 1:
                    statestack.pop()
            elif state == "#push":
                statestack.append(statestack[-1])
            else:
                statestack.append(state)
    elif isinstance(new_state, int):
        # Pop, but keep at least one state on the stack.
        if abs(new_state) >= len(statestack):
            del statestack[1:]
        else:
            del statestack[new_state:]
    elif new_state == "#push":
        statestack.append(statestack[-1])
    else:
        raise ValueError(f"wrong state definition: {new_state!r}")
