"""Griffe extension: the Sphinx roles of the numpydoc docstrings as cross-references.

The docstrings are written for numpydoc (``:meth:`fit```, ``:class:`ParameterError```,
``:meth:`Dataset.load <lightfm.data.Dataset.load>```); mkdocstrings renders Markdown, where those
would show as raw text. Each role becomes inline code wrapped in an *optional* autorefs
cross-reference: a link when the target is on a rendered API page, plain code otherwise (private
modules, built-in exceptions), so no role can break ``mkdocs build --strict``.

It also tidies "Returns" entries that name a tuple, ``(item_indices, scores) : (np.int64 array,
np.float32 array)``: griffe's numpydoc parser takes only an identifier as a name, so such a line
would render whole in the Type column. The tuple becomes the row's name and what follows the colon
its type (none where the line ends at the colon and the description says it).
"""

from __future__ import annotations

import re

import griffe

# A "Returns" entry naming a tuple: "(a, b) : TYPE", "(a, b) :" or "(a, b) or (a, b, c)".
_TUPLE_RETURN = re.compile(r"^(?P<name>\((?:[\w\s,]|\) or \()+\))\s*(?::\s*(?P<type>.*))?$")
_TUPLE_RETURN_LINE = re.compile(r"^Returns\n-+\n(?:.*\n)*?\s*\(\w", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?P<role>meth|func|class|mod|attr|data|obj|exc|const):`(?P<body>[^`]+)`", re.DOTALL)
# Where a name that does not resolve in its docstring's own scope is looked up next (an inherited
# method's docstring lives in a private mixin, and speaks of the estimator's methods).
_FALLBACK_SCOPES = ("lightfm.lightfm.LightFM", "lightfm.data.Dataset", "lightfm")
# Canonical path prefix -> the path under which the API pages render it.
_PUBLIC = {
    "lightfm._serving.RecommenderMixin": "lightfm.LightFM",
    "lightfm.lightfm.LightFM": "lightfm.LightFM",
    "lightfm._validation.ParameterError": "lightfm.ParameterError",
    "lightfm._validation.InputTypeError": "lightfm.InputTypeError",
    "lightfm.datasets.movielens": "lightfm.datasets",
    "lightfm.datasets.stackexchange": "lightfm.datasets",
    "lightfm.datasets.synthetic": "lightfm.datasets",
    "lightfm.ann._index.ItemIndex": "lightfm.ann.ItemIndex",
}


def _public(path: str) -> str:
    for prefix, public in _PUBLIC.items():
        if path == prefix or path.startswith(prefix + "."):
            return public + path[len(prefix) :]
    return path


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg, loader, **kwargs):
        if pkg.name == "lightfm":
            self._package = pkg
            self._rewrite(pkg, set())

    def _exists(self, path: str) -> bool:
        if path == "lightfm":
            return True
        if not path.startswith("lightfm."):
            return False
        try:
            self._package[path[len("lightfm.") :]]
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return False
        return True

    def _resolve(self, obj, target: str) -> str | None:
        target = target.lstrip("~.")
        if self._exists(target):
            return target
        first, _, rest = target.partition(".")
        scopes = [obj]
        for scope_path in _FALLBACK_SCOPES:
            try:
                scopes.append(
                    self._package[scope_path.removeprefix("lightfm.")] if "." in scope_path else self._package
                )
            except KeyError:
                pass
        for scope in scopes:
            try:
                resolved = scope.resolve(first)
            except (griffe.NameResolutionError, AttributeError):
                continue
            path = f"{resolved}.{rest}" if rest else resolved
            if self._exists(path):
                return path
        return None

    def _replace(self, obj, match) -> str:
        body = " ".join(match.group("body").split())
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
        if explicit:
            title, target = explicit.group("title"), explicit.group("target")
        else:
            target = body
            title = body.lstrip("~.").rsplit(".", 1)[-1] if body.startswith("~") else body.lstrip(".")
        if match.group("role") in ("meth", "func"):
            title += "()"
        path = self._resolve(obj, target)
        code = f"<code>{title}</code>"
        if path is None or "._" in _public(path):
            return f"`{title}`"
        return f'<autoref identifier="{_public(path)}" optional>{code}</autoref>'

    def _rewrite(self, obj, seen: set) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda m: self._replace(obj, m), obj.docstring.value)
            if _TUPLE_RETURN_LINE.search(obj.docstring.value):
                _name_tuple_returns(obj.docstring)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)


def _name_tuple_returns(docstring) -> None:
    """Returns rows whose whole line landed in the type: the tuple as the name, the rest as the type."""
    for section in docstring.parsed:  # parsed once, with the handler's options; the result is cached
        if section.kind is not griffe.DocstringSectionKind.returns:
            continue
        for item in section.value:
            match = _TUPLE_RETURN.match(str(item.annotation or "")) if not item.name else None
            if match:
                item.name = match.group("name")
                item.annotation = (match.group("type") or "").strip() or None
