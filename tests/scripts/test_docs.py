"""The README and docs stay true: their Python runs, their commands parse, the paths they name exist.

* Every Python snippet of the README runs, in order, in one namespace, on a tiny model and a toy task
  (the model, the task and the number of training steps are swapped in by exact text substitutions,
  each of which must still find its text); the docs' snippets that build on it run after it.
* Every command in a code block names a script that exists, and only options that script defines;
  ``skillneuron-lens`` commands are parsed by the real command-line parser.
* Every repository path that the README, the docs, the examples, the benchmarks and the tests name
  exists (with its test function for ``file.py::test_name``).
* Every package name the README, the docs, the examples and the benchmarks use exists, and no
  top-level name that moved to a subpackage is used by them (the forwarding warns).

``docs/results.md`` (the lead's record of measured numbers) is left out.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

import skillneuron_lens as snl
from skillneuron_lens.cli.app import build_parser
from tests.helpers.scripts import ROOT
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "results.md")]
SHELL_LANGUAGES = {"", "bash", "sh", "console", "shell"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
REPOSITORY_PATH = re.compile(
    r"(?<![\w/.])((?:tests|examples|benchmarks|scripts|skillneuron_lens|docs|\.ci)/[\w./*-]*[\w*])(?:::\s*(\w+))?"
)


def fenced_blocks(path: Path, languages: set[str]) -> list[str]:
    """The bodies of the fenced code blocks of ``path`` whose language is one of ``languages``."""
    return [m.group(2) for m in FENCE.finditer(path.read_text(encoding="utf-8")) if m.group(1) in languages]


def substituted(code: str, substitutions: dict[str, str], where: str) -> str:
    """``code`` with each key replaced by its value; every key must occur (else the docs changed)."""
    for old, new in substitutions.items():
        assert old in code, f"{where} no longer contains {old!r}: update the substitutions in {__file__}"
        code = code.replace(old, new)
    return code


def run_snippet(code: str, namespace: dict, where: str) -> None:
    exec(compile(code, where, "exec"), namespace)  # noqa: S102  (the docs' own code, on a tiny model)


# ---- Python snippets --------------------------------------------------------------------------------
README_SUBSTITUTIONS = [
    {  # the quick start: MiniLM and Rotten Tomatoes become a tiny GPT-2 (100 neurons) and a toy task
        'snl.load_model("minilm")': "tiny_gpt2(d_mlp=100)",
        'snl.load_task("rotten_tomatoes", n=2000)': "toy_task()",
    },
    {},  # the evidence
    {"snl.TrainConfig(steps=300)": "snl.TrainConfig(steps=2)"},  # the paper's setting
]


def toy_task() -> snl.Task:
    texts, labels = toy_texts(240, seed=7, min_len=3, max_len=10)
    return snl.task_from_lists(texts, labels, ("negative", "positive"), name="toy")


@pytest.mark.models
def test_every_readme_and_docs_python_snippet_runs_on_a_tiny_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets write runs/rt
    readme = fenced_blocks(ROOT / "README.md", {"python"})
    assert len(readme) == len(README_SUBSTITUTIONS), "a README snippet was added or removed: update this test"
    namespace: dict = {"tiny_gpt2": tiny_gpt2, "toy_task": toy_task}
    for number, (code, substitutions) in enumerate(zip(readme, README_SUBSTITUTIONS, strict=True), 1):
        where = f"README.md python snippet {number}"
        run_snippet(substituted(code, substitutions, where), namespace, where)
        if number == 1:
            assert namespace["result"].predictivity.shape == (3, 100)
            assert namespace["skill"].counts_per_layer().tolist() == [2, 2, 2]  # floor(0.02 x 100)
            assert (tmp_path / "runs" / "rt" / "predictivity.safetensors").is_file()
        if number == 2:
            # docs/statistics.md reads a run with a test split, as `find` writes it
            assert namespace["result"].held_out_predictivity is not None
            namespace["result"].save("runs/rt", overwrite=True)
            (statistics,) = fenced_blocks(ROOT / "docs" / "statistics.md", {"python"})
            run_snippet(statistics, namespace, "docs/statistics.md python snippet")
    assert len(namespace["result"].slot_names) == 16  # the last README result: one slot per prompt position
    assert sum(p.numel() for p in namespace["pruned"].parameters()) < sum(
        p.numel() for p in namespace["model"].parameters()
    )
    for number, code in enumerate(fenced_blocks(ROOT / "docs" / "figures.md", {"python"}), 1):
        run_snippet(code, namespace, f"docs/figures.md python snippet {number}")
    assert namespace["fig"].layout.width == 500


def test_the_one_line_python_commands_of_the_docs_run():
    commands = [
        (path, m.group(1))
        for path in DOCS
        for m in re.finditer(r'`python -c "([^"`]+)"`', path.read_text(encoding="utf-8"))
    ]
    assert commands, "expected the binning command of docs/figures.md"
    for path, code in commands:
        run_snippet(code, {}, f"{path.name}: python -c")


# ---- commands ---------------------------------------------------------------------------------------
def shell_commands(block: str) -> list[list[str]]:
    """The simple commands of a shell block, without comments, ``cd`` and environment settings."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            command, words = words[:cut], words[cut + 1 :]
            while command and re.fullmatch(r"[A-Z_]+=.*", command[0]):
                command = command[1:]
            if command and command[0] != "cd":
                commands.append(command)
    return commands


def indented_commands(path: Path) -> list[str]:
    """The Markdown code blocks of ``path`` indented by four spaces that run a program (one line each)."""
    outside_fences = FENCE.sub("", path.read_text(encoding="utf-8"))
    blocks = re.findall(r"(?:^|\n\n)((?: {4}.*\S.*(?:\n|$))+)", outside_fences)
    runs_a_program = re.compile(r"\s*(?:[A-Z_]+=\S+\s+)*\S*(?:python|skillneuron-lens)\s")
    return [block for block in blocks if runs_a_program.match(block)]


def documented_commands() -> list:
    """One ``pytest.param(where, command)`` per command of a shell code block of the README and docs."""
    return [
        pytest.param(where := f"{path.name}: {' '.join(command)}", command, id=where[:90])
        for path in DOCS
        for block in [*fenced_blocks(path, SHELL_LANGUAGES), *indented_commands(path)]
        for command in shell_commands(block)
    ]


def defined_options(script: Path) -> set[str]:
    """The ``--options`` a script (and the benchmarks' shared helpers it imports) defines."""
    sources = [script.read_text(encoding="utf-8")]
    if "_common" in sources[0]:
        sources.append((script.parent / "_common.py").read_text(encoding="utf-8"))
    return {m.group(1) for source in sources for m in re.finditer(r"""["'](--[\w-]+)["']""", source)}


@pytest.mark.parametrize(("where", "command"), documented_commands())
def test_every_documented_command_names_what_exists(where, command):
    program, *arguments = command
    if Path(program).name == "skillneuron-lens":
        try:
            build_parser().parse_args(arguments)
        except SystemExit as refused:
            pytest.fail(f"{where}: the command-line parser refuses it (exit {refused.code})")
    elif Path(program).name in ("python", "bash"):
        script = ROOT / arguments[0]
        assert script.is_file(), f"{where}: {arguments[0]} does not exist"
        options = {word.split("=", 1)[0] for word in arguments[1:] if word.startswith("--")}
        if script.suffix == ".py":
            unknown = options - defined_options(script)
            assert not unknown, f"{where}: {arguments[0]} defines no {sorted(unknown)}"
    elif Path(program).name == "torchrun":
        from torch.distributed.run import get_args_parser

        try:  # torchrun's own parser sees every --option, also those after the module (e.g. --n)
            launch = get_args_parser().parse_args(arguments)
        except SystemExit as refused:
            pytest.fail(f"{where}: torchrun's parser refuses it (exit {refused.code})")
        assert launch.module and launch.training_script == "skillneuron_lens", where
        try:
            build_parser().parse_args(launch.training_script_args)
        except SystemExit as refused:
            pytest.fail(f"{where}: the command-line parser refuses it (exit {refused.code})")
    else:
        pytest.fail(f"{where}: unknown program {program!r} (teach this test how to check it)")


# ---- paths and names --------------------------------------------------------------------------------
def repository_texts(examples: str) -> list[Path]:
    """The README, the docs, the examples matching ``examples``, the benchmarks and the tests."""
    return [
        *DOCS,
        *sorted((ROOT / "examples").glob(examples)),
        *sorted((ROOT / "benchmarks").glob("*.py")),
        *sorted((ROOT / "tests").rglob("*.py")),
    ]


def mentioned_paths() -> list[tuple[str, str, str | None]]:
    found = []
    for file in repository_texts(examples="*.*"):
        for m in REPOSITORY_PATH.finditer(file.read_text(encoding="utf-8")):
            found.append((str(file.relative_to(ROOT)), m.group(1), m.group(2)))
    return found


def test_every_repository_path_named_in_docs_scripts_and_tests_exists():
    missing = []
    for where, name, test_name in mentioned_paths():
        path = ROOT / name
        if "*" in name:  # a pattern such as benchmarks/bench_*.py: something must match it
            if not any(ROOT.glob(name)):
                missing.append(f"{where}: {name}")
        elif not path.exists():
            missing.append(f"{where}: {name}")
        elif test_name and f"def {test_name}(" not in path.read_text(encoding="utf-8"):
            missing.append(f"{where}: {name}::{test_name}")
    assert not missing, "paths that do not exist:\n" + "\n".join(missing)


def test_no_moved_top_level_name_is_used_outside_the_package():
    moved = "|".join(sorted(snl._MOVED, key=len, reverse=True))
    attribute = re.compile(rf"\b(?:snl|skillneuron_lens)\.({moved})\b")
    imported = re.compile(r"from skillneuron_lens import (\([^)]*\)|[^\n]*)")
    uses = []
    for file in repository_texts(examples="*.py"):
        if file.name == "test_forwarding.py":
            continue  # checks the forwarding itself
        text = file.read_text(encoding="utf-8")
        names = [m.group(1) for m in attribute.finditer(text)]
        for statement in imported.finditer(text):
            names += [name for name in re.findall(r"\w+", statement.group(1)) if name in snl._MOVED]
        uses += [f"{file.relative_to(ROOT)}: {name} (now {snl._MOVED[name]}.{name})" for name in names]
    assert not uses, "old top-level names still used:\n" + "\n".join(uses)


def resolve(dotted: str) -> object:
    """The object ``skillneuron_lens.<dotted>`` names, importing submodules on the way."""
    found: object = snl
    prefix = "skillneuron_lens"
    for part in dotted.split("."):
        prefix = f"{prefix}.{part}"
        try:
            found = getattr(found, part)
        except AttributeError:
            found = importlib.import_module(prefix)  # a submodule not imported yet
    return found


def imported_names(statement_tail: str) -> list[str]:
    """The names a ``from ... import`` statement imports, from the text after ``import``."""
    if statement_tail.startswith("("):
        statement_tail = statement_tail[1 : statement_tail.index(")")]
    else:
        statement_tail = re.split(r"[#;\"]", statement_tail)[0]
    items = (item.split("#")[0].split() for item in statement_tail.split(","))
    return [words[0] for words in items if words]


def test_every_package_name_the_docs_and_scripts_use_exists():
    """``snl.a.b``, ``skillneuron_lens.a.b`` and ``from skillneuron_lens.a import b`` all resolve.

    The tests are left out: they run, so a name they use that does not exist fails them anyway.
    """
    chain = re.compile(r"\b(?:snl|skillneuron_lens)\.(\w+(?:\.\w+)*)")
    imported = re.compile(r"from skillneuron_lens((?:\.\w+)*) import (\([^)]*\)|[^\n]*)")
    scripts = [*sorted((ROOT / "examples").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    unknown = []
    for file in [*DOCS, *scripts]:
        text = file.read_text(encoding="utf-8")
        names = {m.group(1) for m in chain.finditer(text) if not m.group(1).endswith(".py")}
        for statement in imported.finditer(text):
            module = statement.group(1).lstrip(".")
            names |= {f"{module}.{name}".lstrip(".") for name in imported_names(statement.group(2))}
        for name in sorted(names):
            try:
                resolve(name)
            except (AttributeError, ImportError) as error:
                unknown.append(f"{file.relative_to(ROOT)}: {name} ({error})")
    assert not unknown, "names that do not exist:\n" + "\n".join(unknown)
