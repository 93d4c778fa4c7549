"""`--help` works for `nsm` and every subcommand, nested ones included (a `%` in a help string once crashed `nsm suggest --help`)."""
import argparse

import pytest
from conftest import nsm

from nsm_modeler.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple = ()):
    "Every command path of the parser, e.g. ('predict',), ('presets', 'import')."
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _commands(sub, prefix + (name,))


COMMANDS = sorted(set(_commands(build_parser())))


def test_every_subcommand_is_found():
    names = {c[0] for c in COMMANDS}
    assert {'predict', 'match', 'suggest', 'morph', 'train', 'reproduce'} <= names, names


@pytest.mark.parametrize('command', COMMANDS, ids=' '.join)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([*command, '--help'])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: nsm ' + ' '.join(command)), out[:200]


def test_help_as_a_user_runs_it():
    for command in ((), ('suggest',)):
        code, out, err = nsm(*command, '--help')
        assert code == 0 and out.startswith('usage: nsm'), err[-500:]
