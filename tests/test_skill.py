"""`reminders skill install`: the Agent Skills file an agent learns the CLI from."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ~ so the skill lands in a temp folder, never the real one."""
    path = tmp_path / "user"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("OPENCLAW_STATE_DIR", raising=False)
    return path


def split_skill(text: str) -> tuple[dict[str, Any], str]:
    """Front matter and body, read strictly: one `key: value` a line, where a value
    is a JSON string/object or plain text; checked against PyYAML when present."""
    match = re.fullmatch(r"---\n(.*?)\n---\n(.*)", text, re.DOTALL)
    assert match, "no front matter"
    front: dict[str, Any] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(": ")
        assert sep and re.fullmatch(r"[a-z_-]+", key), line
        front[key] = json.loads(value) if value[:1] in '"{[' else value
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load(match.group(1)) == front
    return front, match.group(2)


def example_commands(body: str) -> list[list[str]]:
    """Every `reminders ...` line in the fenced example blocks."""
    commands = []
    for block in re.findall(r"^```\n(.*?)^```$", body, re.DOTALL | re.MULTILINE):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                assert line.startswith("reminders "), line
                commands.append(shlex.split(line)[1:])
    return commands


def test_skill_is_front_matter_and_markdown(run: Cli) -> None:
    """SKILL.md has a name, a description in people's words, and OpenClaw's
    metadata requiring the `reminders` binary; the body is Markdown."""
    front, body = split_skill(run("skill", "install", "--print").stdout)
    assert front["name"] == "reminders"
    assert "remind me" in front["description"]
    assert front["metadata"]["openclaw"]["requires"]["bins"] == ["reminders"]
    assert body.lstrip().startswith("# ")
    assert "--json" in body


def test_every_example_runs(run: Cli, home: Path) -> None:
    """Each command in the worked examples succeeds against a fresh home."""
    (home / "config.toml").write_text('[delivery]\ndefault_to = "123456789"\n')
    _, body = split_skill(run("skill", "install", "--print").stdout)
    commands = example_commands(body)
    verbs = {command[0] for command in commands}
    assert {"add", "list", "rm", "next", "edit"} <= verbs
    for command in commands:
        run(*command)
    [left] = run.json("list", "--all")
    assert left["name"] == "Standup" and left["schedule"]["expr"] == "30 9 * * 1-5"


def test_install_writes_once_and_print_writes_nothing(
    run: Cli, user_home: Path, tmp_path: Path
) -> None:
    """install writes ~/.openclaw/skills/reminders/SKILL.md; again changes nothing;
    --target claude and a folder work; --print leaves the disk alone."""
    printed = run("skill", "install", "--print").stdout
    assert not (user_home / ".openclaw").exists()
    path = user_home / ".openclaw" / "skills" / "reminders" / "SKILL.md"
    assert run("skill", "install").stdout.strip() == f"Wrote {path}"
    assert path.read_text() == printed
    assert run("skill", "install").stdout.strip() == f"Unchanged: {path}"
    path.write_text("an older version")
    assert run("skill", "install").stdout.startswith("Wrote")
    assert path.read_text() == printed
    claude = user_home / ".claude" / "skills" / "reminders" / "SKILL.md"
    run("skill", "install", "--target", "claude")
    assert claude.read_text() == printed
    folder = tmp_path / "agent-skills"
    run("skill", "install", "--target", str(folder))
    assert (folder / "reminders" / "SKILL.md").read_text() == printed


def test_unwritable_target_is_one_line(run: Cli, tmp_path: Path) -> None:
    """A target that cannot be written gives our error, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("skill", "install", "--target", str(blocker), code=65)
    assert result.stderr.startswith("Error: Cannot write")


def test_every_command_it_teaches_runs(run: Cli, home: Path) -> None:
    """The indented command lines (adding and managing) work as taught, with their
    placeholders filled in, each on a reminder that exists."""
    (home / "config.toml").write_text('[delivery]\ndefault_to = "123456789"\n')
    _, body = split_skill(run("skill", "install", "--print").stdout)
    fill = {"WHEN": "20m", "TEXT": "tea", "NAME": "Tea", "CHAT": "42"}
    lines = re.findall(r"^    (reminders .*?)(?:\s+#.*)?$", body, re.MULTILINE)
    lines += re.findall(r"`(reminders (?:enable|disable) NAME)`", body)
    verbs = set()
    for line in lines:
        args = [fill.get(word, word) for word in shlex.split(line)[1:]]
        verbs.add(args[0])
        run("add", "--name", "Tea", "--at", "1h", "--system-event", "tea")
        run(*args)
        for left in run.json("list", "--all"):
            run("rm", left["id"])
    assert {"add", "list", "next", "edit", "disable", "enable", "rm", "runs"} <= verbs
