"""Every command's help renders: argparse formats help lazily, so a bad help string (a bare
``%``) only fails when somebody asks for it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from adapters.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def test_the_command_tree_is_walked() -> None:
    assert ("ctcae", "grade") in COMMANDS and ("patient", "skin") in COMMANDS
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_commands_help_renders(path: tuple[str, ...]) -> None:
    text = COMMANDS[path].format_help()
    assert text.startswith("usage: doseledger")
