"""The CLI answers --help for the group and every command, through the real click entry point."""
from click.testing import CliRunner

from docwatch.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "docwatch" in result.output
    for name in main.commands:
        sub = CliRunner().invoke(main, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
