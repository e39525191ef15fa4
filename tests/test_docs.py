"""The documentation against the code: README.md and docs/*.md.

(a) every module under charrnn/ is named in docs/architecture.md, by its path (`charrnn/lm/train.py`);
(b) every `--flag` the pages show exists: in a command line (`charrnn ...`, `python -m charrnn ...`,
    `torchrun ... -m charrnn ...`, `python app.py ...` (the options of `charrnn app`), `python bench/x.py ...`) in
    that command's own parser; in other inline code under a heading that names a command (`## charrnn sample`) in
    that command's parser; anywhere else in at least one parser;
(c) README.md is at most 150 lines and starts with the two set-up commands;
(d) relative links (and their #anchors) point to files (and headings) that exist.

The parsers come in-process from `charrnn.cli.main.build_parser()`, subcommands walked recursively (so
`charrnn sentiment train` is found like `charrnn train`); scripts (bench/*.py) are read with `ast`, not run. Every
checker is a plain function of text, tried on a planted bad example too.
"""
from __future__ import annotations

import argparse
import ast
import re
import shlex
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FLAG_PAGES = [p for p in PAGES if p.name != "BENCHMARKS.md"]  # BENCHMARKS records past commands as they were run
MAX_README_LINES = 150
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")


# ---------------------------------------------------------------- (a) modules named in architecture.md


def module_paths(package: Path = ROOT / "charrnn") -> list[str]:
    """Every .py file under the package, as a path from the repository root: `charrnn/lm/train.py`."""
    return [p.relative_to(package.parent).as_posix() for p in sorted(package.rglob("*.py"))]


def unnamed_modules(text: str, paths: list[str]) -> list[str]:
    """The paths that `text` does not name in inline code (`charrnn/lm/train.py`)."""
    named = set(re.findall(r"`([^`\n]+)`", text))
    return [p for p in paths if p not in named]


def test_every_module_is_in_architecture():
    missing = unnamed_modules(ARCHITECTURE.read_text(encoding="utf8"), module_paths())
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)} (add a row to its module table)"


def test_unnamed_module_is_caught():
    text = "| `charrnn/lm/train.py` | the trainer |\nThe sampler is charrnn/lm/sample.py (not in code: not counted)."
    assert unnamed_modules(text, ["charrnn/lm/train.py", "charrnn/lm/sample.py"]) == ["charrnn/lm/sample.py"]


def test_module_paths_cover_the_package():
    paths = module_paths()
    assert "charrnn/__init__.py" in paths and "charrnn/lm/train.py" in paths and "charrnn/cli/main.py" in paths


# ---------------------------------------------------------------- (b) flags against the parsers


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    """Command path -> its option strings, for the parser and every subcommand below it."""
    found = {prefix: set(parser._option_string_actions)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(subcommands(sub, prefix + (name,)))
    return found


def script_options(path: Path) -> set[str]:
    """The option strings a script's argparse declares (`add_argument("--x", ...)` calls), read without running it."""
    options = {"-h", "--help"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            options.update(a.value for a in node.args
                           if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-"))
    return options


@lru_cache(maxsize=1)
def charrnn_commands() -> dict[tuple[str, ...], set[str]]:
    from charrnn.cli.main import build_parser

    return subcommands(build_parser())


def options_of(command: tuple[str, ...], commands: dict[tuple[str, ...], set[str]]) -> set[str] | None:
    """The options of `command` (`("charrnn", "sentiment", "train")`, `("app.py",)`, `("bench/x.py",)`)."""
    if command[0] == "charrnn":
        return commands.get(command[1:])
    if command[0] == "app.py":  # a thin entry point: the options of `charrnn app`
        return commands.get(("app",))
    path = ROOT / command[0]
    return script_options(path) if path.is_file() else None


def all_options(commands: dict[tuple[str, ...], set[str]]) -> set[str]:
    scripts = sorted((ROOT / "bench").glob("*.py"))
    return set().union(*commands.values(), *(script_options(s) for s in scripts))


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: fall back to plain words
        return line.split("#")[0].split()


def _placeholder(word: str) -> bool:
    """`<command>`, `COMMAND`, `...`: a stand-in for any command."""
    return word.startswith(("<", "...")) or word.isupper()


def parse_command(segment: list[str], commands) -> tuple[tuple[str, ...], list[str]] | None:
    """(command path, the words after it) when `segment` runs charrnn or a Python script of this repository."""
    words = [w for w in segment if w != "$"]
    if not words:
        return None
    if words[0] == "charrnn":
        rest = words[1:]
    elif "-m" in words and words[0] in ("python", "python3", "torchrun") and \
            words.index("-m") + 1 < len(words) and words[words.index("-m") + 1] == "charrnn":
        rest = words[words.index("-m") + 2:]  # torchrun's own options come before -m and are not ours
    elif words[0] in ("python", "python3") and len(words) > 1 and words[1].endswith(".py"):
        return (words[1],), words[2:]
    else:
        return None
    path = ["charrnn"]
    while rest and not rest[0].startswith("-"):
        name = rest[0]
        if _placeholder(name):  # `charrnn <command> --help`: any command
            return ("charrnn", "*"), rest[1:]
        if tuple(path[1:]) + (name,) not in commands:
            break  # a positional argument (a text to classify), or an unknown command, reported by the caller
        path.append(name)
        rest = rest[1:]
    return tuple(path), rest


def command_problems(line: str, commands) -> list[str]:
    """Unknown flags (and unknown commands) in one shell line."""
    problems = []
    segment: list[str] = []
    for token in _tokens(line) + [";"]:
        if token and set(token) <= set("|&;"):
            parsed = parse_command(segment, commands)
            segment = []
            if parsed is None:
                continue
            command, rest = parsed
            if command == ("charrnn",) and rest and not rest[0].startswith("-") and not _placeholder(rest[0]):
                problems.append(f"unknown command `charrnn {rest[0]}` in: {line.strip()}")
                continue
            known = all_options(commands) if command[-1] == "*" else options_of(command, commands)
            if known is None:
                problems.append(f"unknown script {command[0]} in: {line.strip()}")
                continue
            for word in rest:
                m = re.match(r"\[?(--[A-Za-z][\w-]*)", word)
                if m and m.group(1) not in known:
                    problems.append(f"{' '.join(command)} has no {m.group(1)}: {line.strip()}")
        else:
            segment.append(token)
    return problems


def is_command(text: str, commands) -> bool:
    return any(parse_command(s, commands) for s in [_tokens(text)[:4]])


HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)(\w*)")
SPAN = re.compile(r"``(.+?)``|`([^`]+)`", re.S)


def unknown_flags(markdown: str, commands) -> list[str]:
    """Every flag in `markdown` that the command it belongs to does not have (see the module docstring)."""
    problems = []
    everything = all_options(commands)
    in_fence, language, pending = False, "", ""
    sections: list[tuple[int, tuple[str, ...] | None]] = []  # open headings: (level, the command they name)
    paragraph: list[str] = []

    def prose(text: str) -> None:
        context = next((c for _, c in reversed(sections) if c), None)
        for span in (a or b for a, b in SPAN.findall(text)):
            if is_command(span, commands):
                problems.extend(command_problems(span, commands))
                continue
            known = everything if context is None else options_of(context, commands) or set()
            for flag in FLAG.findall(span):
                if flag not in known:
                    where = " ".join(context) if context else "any command"
                    problems.append(f"{where} has no {flag}: `{span}`")
        for flag in FLAG.findall(SPAN.sub(" ", text)):
            if flag not in everything:
                problems.append(f"no command has {flag}: {text.strip()[:200]}")

    for line in markdown.splitlines() + [""]:
        fence, heading = FENCE.match(line), HEADING.match(line)
        if not in_fence and (fence or heading or not line.strip()):
            prose("\n".join(paragraph))  # a paragraph at a time: inline code may run over a line end
            paragraph = []
        if fence:
            in_fence, language, pending = not in_fence, fence.group(2), ""
            continue
        if in_fence:
            if language in ("python", "py", "json", "text"):
                continue
            joined = pending + line
            if joined.rstrip().endswith("\\"):
                pending = joined.rstrip()[:-1] + " "
                continue
            pending = ""
            problems += command_problems(joined.strip().removeprefix("$ "), commands)
        elif heading:
            level = len(heading.group(1))
            while sections and sections[-1][0] >= level:
                sections.pop()
            sections.append((level, heading_command(heading.group(2), commands)))
        else:
            paragraph.append(line)
    return problems


def heading_command(heading: str, commands) -> tuple[str, ...] | None:
    """The command a heading names (`## charrnn sample`, or `python app.py` in code), if any; not bare `charrnn`."""
    for text in re.findall(r"`([^`]+)`", heading) or [heading]:
        parsed = parse_command(_tokens(text), commands)
        if parsed and parsed[0] != ("charrnn",) and parsed[0][-1] != "*":
            return parsed[0]
    return None


@pytest.mark.parametrize("page", FLAG_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_flags_exist(page):
    problems = unknown_flags(page.read_text(encoding="utf8"), charrnn_commands())
    assert not problems, "\n".join(problems)


def test_the_parsers_are_walked():
    commands = charrnn_commands()
    assert "--steps" in commands[("train",)] and "--int8" in commands[("sentiment", "ensemble")]
    assert "--no-engine" in options_of(("app.py",), commands) and "--public" in commands[("app",)]


PLANTED = """\
## charrnn sample

```bash
charrnn train --book 1268 --no-such-flag 3 --out runs/x.pt
python -m charrnn sentiment train --data x.csv \\
    --lexicon 0 --also-not-a-flag
torchrun --standalone --nproc_per_node=2 -m charrnn train --text a.txt --steps 10
echo "a text" | charrnn sentiment predict --checkpoint c.pt --bogus -
charrnn trian --steps 3
python app.py [--port 7860] [--no-such-port]
python bench/load_test.py --compare
$ charrnn evaluate --checkpoint c.pt --text t.txt --dynamic-lr 1e-4
```

`--top-k` is fine here; `--chapter` is train's, not sample's; `charrnn train --chapter` is a command of its own.
`charrnn sample --minutes 3` is not. `charrnn <command> --help` lists every option.

# Elsewhere

Any command's flag will do: `--dynamic`, `--freeze`; not `--made-up`, nor --bare-made-up in plain text.
"""


def test_unknown_flags_are_caught():
    problems = unknown_flags(PLANTED, charrnn_commands())
    found = sorted(set(re.findall(r"has no (--[\w-]+)|has (--[\w-]+):|(`charrnn trian`)", "\n".join(problems))))
    found = sorted("".join(groups).strip("`") for groups in found)
    assert found == ["--also-not-a-flag", "--bare-made-up", "--bogus", "--chapter", "--made-up", "--minutes",
                     "--no-such-flag", "--no-such-port", "charrnn trian"], problems
    assert not any("--nproc_per_node" in p or "--compare" in p or "--dynamic-lr" in p for p in problems)


# ---------------------------------------------------------------- (c) the README's length and first lines


def readme_problems(text: str, limit: int = MAX_README_LINES) -> list[str]:
    problems = []
    lines = text.splitlines()
    if len(lines) > limit:
        problems.append(f"README.md has {len(lines)} lines; at most {limit}")
    first = re.search(r"```bash\n(.*?)```", text, re.S)
    commands = [line for line in (first.group(1) if first else "").splitlines() if not line.startswith("#")]
    if not first or first.start() > 200 or len(commands) != 2 or not commands[0].endswith("python app.py") \
            or not commands[1].endswith("python -m pytest"):
        problems.append("README.md must open with its two set-up commands: the app's, then the tests'")
    return problems


def test_readme_is_short_and_opens_with_the_setup():
    assert not readme_problems(README.read_text(encoding="utf8"))


def test_long_readme_is_caught():
    setup = "# x\n\n```bash\npip install -e . && python app.py\npip install -e '.[test]' && python -m pytest\n```\n"
    assert readme_problems(setup) == []
    assert len(readme_problems(setup + "line\n" * 150)) == 1
    assert len(readme_problems("# x\n\nSome words first.\n" + setup)) == 0
    assert len(readme_problems("# x\n\n```bash\npython app.py\n```\n")) == 1


# ---------------------------------------------------------------- (d) relative links


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen = set(), {}
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = None if in_fence else HEADING.match(line)
        if heading:
            s = slug(heading.group(2))
            found.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return found


def broken_links(markdown: str, base: Path) -> list[str]:
    """Relative links in `markdown` (a page in folder `base`) whose file, or heading, does not exist."""
    problems = []
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]+`", "", text)
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        path = (base / name) if name else None
        if path is not None and not path.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and (path is None or path.suffix == ".md"):
            page = markdown if path is None else path.read_text(encoding="utf8")
            if anchor not in anchors(page):
                problems.append(f"{target}: no such heading")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_resolve(page):
    problems = broken_links(page.read_text(encoding="utf8"), page.parent)
    assert not problems, "\n".join(problems)


def test_broken_links_are_caught():
    page = ("# Top\n\n## Dynamic evaluation (issue 12, part 3)\n\nSee [b](BENCHMARKS.md), [gone](docs/nothing.md), "
            "[here](#top), [there](#nowhere), [bench](BENCHMARKS.md#no-such-part), "
            "[ok](BENCHMARKS.md#dynamic-evaluation-issue-12-part-3), [web](https://example.com/x.md).\n")
    assert broken_links(page, ROOT / "docs") == ["docs/nothing.md: no such file", "#nowhere: no such heading",
                                                  "BENCHMARKS.md#no-such-part: no such heading"]


def test_slugs_follow_github():
    assert slug("A larger LM, and ensembles (2026-11-29/30)") == "a-larger-lm-and-ensembles-2026-11-2930"
    assert slug("`charrnn train`: options") == "charrnn-train-options"
