"""The documentation site: its Python examples run as written, and ``mkdocs build --strict`` passes.

Each page's ```python blocks run in order in one namespace (later blocks continue earlier ones), in
a temporary working directory (the examples save files). Pages that fetch MovieLens run only where
the data is already on disk ($LIGHTFM_DATA_HOME or ../shared/data), never downloading it. The strict
build (a few seconds) runs where the docs extra is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO, movielens_home

DOCS = REPO / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
_BLOCK = re.compile(r"^```python[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(page):
    return [match.group("code") for match in _BLOCK.finditer(page.read_text(encoding="utf-8"))]


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


def test_the_guides_have_examples():
    names = {page.name for page in PAGES_WITH_CODE}
    assert {"quickstart.md", "hybrid.md", "serving.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: str(page.relative_to(DOCS)))
def test_examples_run(page, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(page)
    if any("fetch_movielens(" in block for block in blocks):
        home = movielens_home()
        if home is None:
            # Run the rest of the page; the MovieLens blocks need the (downloaded) data.
            blocks = [block for block in blocks if "fetch_movielens(" not in block]
        else:
            monkeypatch.setenv("LIGHTFM_DATA_HOME", home)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page.name}, python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{page.name}: python block {number} failed:\n{block}") from error


def test_movielens_examples_never_download():
    """The one MovieLens example must not be rewritten to download somewhere the test cannot see."""
    for page in PAGES_WITH_CODE:
        for block in python_blocks(page):
            if "fetch_movielens(" in block:
                assert "data_home" not in block and "download_if_missing" not in block


def test_api_page_lists_every_public_method():
    """docs/api/lightfm.md renders LightFM's methods one by one, in groups: a new method must be added there."""
    import inspect

    from lightfm import LightFM

    page = (DOCS / "api" / "lightfm.md").read_text(encoding="utf-8")
    rendered = set(re.findall(r"^::: lightfm\.LightFM\.(\w+)", page, re.MULTILINE))
    methods = {name for name, value in inspect.getmembers(LightFM) if not name.startswith("_") and callable(value)}
    assert methods - rendered == set(), "add these to docs/api/lightfm.md"
    assert rendered - methods == set()


def test_each_object_is_rendered_on_one_page():
    """An API object rendered by two pages (``::: name``) gives two anchors and ambiguous cross-references:
    the guides link to the API reference instead (docs/cluster.md links to docs/api/dask.md)."""
    seen = {}
    for page in PAGES:
        for name in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.MULTILINE):
            where = str(page.relative_to(DOCS))
            assert name not in seen, f"{name} is rendered on {seen[name]} and on {where}"
            seen[name] = where
    assert "lightfm.dask.DaskLightFM" in seen


def test_included_sections_exist():
    """Every README/BENCHMARKS section a page includes is there (docs/hooks.py), and the CLI help renders.

    Runs without mkdocs, so renaming a README heading fails the default suite, not only the docs build.
    """
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    included = 0
    for page in PAGES:
        for match in hooks._INCLUDE.finditer(page.read_text(encoding="utf-8")):
            assert hooks.section(match.group("file"), match.group("section")).strip(), match.group(0)
            included += 1
    assert included >= 6
    help_text = hooks.cli_help()
    for command in ("demo", "train", "evaluate", "recommend", "similar"):
        assert f"$ lightfm {command} --help" in help_text


# Development-diary words that user-facing text must not use: development history belongs in the git
# log and CHANGELOG.md. Phrases that use such a word in another sense are allowed explicitly.
_DIARY = re.compile(r"\bsessions?\b|\bissues?\s*#?\d|\blent\b|\bhelpers?\b", re.IGNORECASE)
_DIARY_ALLOWED = ("start_new_session", "the server's session", "# session id")


def _user_facing_texts():
    """(where, text) of README.md, BENCHMARKS.md, the docs pages, the benchmark scripts' docstrings and
    comments, and benchmarks/device_threads.sh."""
    import ast
    import io
    import tokenize

    for path in [REPO / "README.md", REPO / "BENCHMARKS.md", *PAGES, REPO / "benchmarks" / "device_threads.sh"]:
        yield str(path.relative_to(REPO)), path.read_text(encoding="utf-8")
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        nodes = [
            node
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        ]
        docstrings = [ast.get_docstring(node) or "" for node in nodes]
        comments = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
                    if token.type == tokenize.COMMENT]  # fmt: skip
        yield str(path.relative_to(REPO)), "\n".join(docstrings + comments)


def test_user_facing_text_is_not_a_development_diary():
    """No "session 7", "issue 12", "no machine was lent", "helper" in what users read: say what is
    measured, where and how, and what is not measured yet."""
    found = []
    for where, text in _user_facing_texts():
        for allowed in _DIARY_ALLOWED:
            text = text.replace(allowed, "")
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{where}:{number}: {line.strip()}" for _ in _DIARY.finditer(line)]
    assert not found, "\n".join(found)


def _api_docs():
    """The package as the API pages see it: griffe's numpydoc parse, with docs/griffe_roles.py applied."""
    griffe = pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("docs_griffe_roles", DOCS / "griffe_roles.py")
    roles = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roles)
    extensions = griffe.load_extensions(roles.SphinxRoles)
    package = griffe.load("lightfm", search_paths=[str(REPO)], docstring_parser="numpy", extensions=extensions)
    return griffe, package


def _sections(obj, kind):
    return [item for section in obj.docstring.parsed if section.kind.value == kind for item in section.value]


@pytest.mark.parametrize("path", ["LightFM", "dask.DaskLightFM"])
def test_constructor_parameters_documented_once(path):
    """Each constructor parameter has one row, with the signature's default (a grouped or continued numpydoc
    line once rendered every hyperparameter with the first one's default, and lost the last two)."""
    import ast
    import inspect

    if path.startswith("dask."):
        pytest.importorskip("distributed")
    _, package = _api_docs()
    documented = {}
    for item in _sections(package[path], "parameters"):
        assert item.name not in documented, f"{path}: {item.name} documented twice"
        documented[item.name] = item.default
    module, _, name = f"lightfm.{path}".rpartition(".")
    signature = inspect.signature(getattr(importlib.import_module(module), name))
    assert list(documented) == list(signature.parameters), path
    for name, parameter in signature.parameters.items():
        assert ast.literal_eval(str(documented[name])) == parameter.default, f"{path}: {name}"


def test_tuple_returns_render_with_a_name():
    """A numpydoc "(a, b) : TYPE" return line is one row named (a, b), not a type column holding the whole line."""
    griffe, package = _api_docs()
    checked = 0
    for path in ["LightFM.recommend", "LightFM.get_user_representations", "cross_validation.random_train_test_split"]:
        for item in _sections(package[path], "returns"):
            assert item.name.startswith("("), (path, item.name, item.annotation)
            assert ":" not in str(item.annotation or ""), (path, item.annotation)
            checked += 1
    assert checked >= 4


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="the docs extra is not installed")
def test_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs")
    command = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    result = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index.html", "cli/index.html", "api/lightfm/index.html", "performance/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    cli_page = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "lightfm train --help" in cli_page and "--output" in cli_page
    # Long signatures are wrapped (ruff formats them), one parameter a line, not cut off at the page's edge.
    api = (tmp_path / "site" / "api" / "lightfm" / "index.html").read_text(encoding="utf-8")
    signature = api[api.index('id="lightfm.LightFM.recommend"') :]
    signature = signature[signature.index('class="doc-signature') :]
    signature = signature[: signature.index("</code>")]
    assert signature.count("\n") > 3, signature
    # API pages are boosted in search, and dotted names split into words ("recommend" finds LightFM.recommend).
    index = json.loads((tmp_path / "site" / "search" / "search_index.json").read_text(encoding="utf-8"))
    boosts = {doc["location"]: doc.get("boost") for doc in index["docs"]}
    assert boosts["api/lightfm/"] and boosts["api/dask/"] and not boosts.get("quickstart/")
    assert re.split(index["config"]["separator"], "lightfm.LightFM.recommend") == ["lightfm", "LightFM", "recommend"]


def test_readme_python_examples_run(tmp_path):
    """The README's ```python blocks, in order, as one script (later blocks continue earlier ones; the
    cluster example starts local worker processes, so it runs as ``__main__`` in a child process)."""
    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k is not on disk (the quickstart would download it)")
    pytest.importorskip("distributed")
    script = tmp_path / "readme_examples.py"
    script.write_text("\n".join(python_blocks(REPO / "README.md")))
    env = {**os.environ, "LIGHTFM_DATA_HOME": home}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "cluster_model.npz").is_file() and (tmp_path / "model.npz").is_file()
