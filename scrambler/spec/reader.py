"""Low-level reading for the loader: safe YAML, CSV code lists, key checks; every problem becomes an Issue."""

from __future__ import annotations

import csv
import difflib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from scrambler.errors import Issue
from scrambler.spec.model import Codelist

LABEL_COLUMNS = {"label_nl": "nl", "label_fr": "fr", "label_en": "en", "label_de": "de"}
MAX_FILE_BYTES = 20_000_000


def code_text(value: Any) -> str:
    """A code as written in YAML: booleans become "true"/"false" (YAML reads `true` and `false` unquoted as
    booleans), everything else its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that also refuses duplicate keys (a silent overwrite would drop a rule or variable)."""


def _construct_mapping(loader: _SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)  # type: ignore[no-any-return]


_SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# A spec nests a few levels; these limits stop hostile files before they cost the machine: 3,000 nested levels
# overflowed Python's stack (RecursionError), and a "billion laughs" of aliases nesting aliases expands
# exponentially wherever the document is walked (a 312 MB error line at 8 levels, MemoryError at 9).
MAX_YAML_DEPTH = 100
MAX_YAML_VALUES = 1_000_000  # values after expanding every alias; the largest declared spec file has ~10,000


class _LimitedLoader(_SafeLoader):
    """SafeLoader with a nesting limit and a limit on the size the document has once aliases are expanded;
    both errors carry the line where the limit was crossed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._weights: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", mark)
            if self.check_event(yaml.events.AliasEvent):  # type: ignore[no-untyped-call]
                node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
                self._expanded += self._weights.get(id(node), 1)
            else:
                before = self._expanded
                node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
                self._expanded += 1
                self._weights[id(node)] = self._expanded - before
            if self._expanded > MAX_YAML_VALUES:
                raise yaml.composer.ComposerError(None, None, f"aliases expand the document to more than "
                                                  f"{MAX_YAML_VALUES:,} values", mark)
            return node
        finally:
            self._depth -= 1


class Reader:
    """Collects issues while reading the files of one spec folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[Issue] = []
        self._codelists: dict[str, Codelist | None] = {}

    def issue(self, code: str, message: str, **where: str | None) -> None:
        self.issues.append(Issue(code=code, message=message, **where))

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def yaml_file(self, name: str, required: bool = True) -> Any:
        path = self.root / name
        if not path.is_file():
            if required:
                self.issue("missing-file", f"the spec needs {name}", file=self.rel(path))
            return None
        if path.stat().st_size > MAX_FILE_BYTES:
            self.issue("file-too-large", f"larger than {MAX_FILE_BYTES} bytes", file=self.rel(path))
            return None
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LimitedLoader)  # noqa: S506 - safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.issue("yaml-error", f"not valid YAML{where}: {problem}", file=self.rel(path))
            return None
        except UnicodeDecodeError:
            self.issue("encoding-error", "not UTF-8 text", file=self.rel(path))
            return None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.issue("yaml-structure", f"the top level must be a mapping, got {type(data).__name__}",
                       file=self.rel(path))
            return None
        return data

    def check_keys(self, obj: dict[str, Any], allowed: Iterable[str], file: str, **where: str | None) -> None:
        allowed = list(allowed)
        for key in obj:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(allowed)}"
                self.issue("unknown-key", f"unknown key {key!r}{hint}", file=file, **where)

    def codelist(self, name: str, **where: str | None) -> Codelist | None:
        """Read codelists/<name>.csv once; None (with issues) when missing or malformed."""
        if not isinstance(name, str):
            return self._read_codelist(name, where)  # reports bad-codelist-name
        if name in self._codelists:
            return self._codelists[name]
        result = self._read_codelist(name, where)
        self._codelists[name] = result
        return result

    def _read_codelist(self, name: str, where: dict[str, str | None]) -> Codelist | None:
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            self.issue("bad-codelist-name", f"code list name {name!r} must be a plain file name", **where)
            return None
        path = self.root / "codelists" / f"{name}.csv"
        rel = self.rel(path)
        rows = self.csv_rows(path, code="missing-codelist", **where)
        if rows is None:
            return None
        header, body = rows
        if "code" not in header:
            self.issue("codelist-no-code", "the code list has no 'code' column", file=rel)
            return None
        codes: list[str] = []
        seen: set[str] = set()
        for line, row in body:
            code = row.get("code", "").strip()
            if not code:
                self.issue("codelist-empty-code", "empty code", file=rel, row=str(line))
                continue
            if code in seen:
                self.issue("codelist-duplicate-code", f"code {code!r} appears twice", file=rel, row=str(line))
                continue
            seen.add(code)
            codes.append(code)
        kept = [row for _, row in body if row.get("code", "").strip() in seen]
        # first occurrence of each code only
        firsts: dict[str, dict[str, str]] = {}
        for row in kept:
            firsts.setdefault(row["code"].strip(), row)
        ordered = [firsts[c] for c in codes]
        labels = {lang: tuple(r.get(col, "") or "" for r in ordered) for col, lang in LABEL_COLUMNS.items()
                  if col in header}
        weights = None
        if "weight" in header:
            parsed = []
            for code, row in zip(codes, ordered, strict=True):
                try:
                    w = float(row.get("weight") or 0)
                except ValueError:
                    self.issue("codelist-bad-weight", f"weight {row.get('weight')!r} of code {code!r} is not a number",
                               file=rel)
                    w = 0.0
                if w < 0 or math.isnan(w):
                    self.issue("codelist-bad-weight", f"weight of code {code!r} must be >= 0", file=rel)
                    w = 0.0
                parsed.append(w)
            weights = tuple(parsed)
        attributes: dict[str, tuple[float, ...]] = {}
        texts: dict[str, tuple[str, ...]] = {}
        for col in header:
            if col in ("code", "weight") or col in LABEL_COLUMNS:
                continue
            raw = tuple((r.get(col) or "").strip() for r in ordered)
            texts[col] = raw
            try:
                attributes[col] = tuple(float(v) if v != "" else math.nan for v in raw)
            except ValueError:
                pass
        return Codelist(name=name, codes=tuple(codes), labels=labels, weights=weights, attributes=attributes,
                        texts=texts, file=rel)

    def csv_rows(self, path: Path, code: str = "missing-file", **where: str | None
                 ) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
        rel = self.rel(path)
        if not path.is_file():
            self.issue(code, f"file {rel} does not exist", file=rel, **{k: v for k, v in where.items() if k != "file"})
            return None
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                header = [h.strip() for h in (reader.fieldnames or [])]
                if not header:
                    self.issue("csv-empty", "the CSV file has no header", file=rel)
                    return None
                if len(set(header)) != len(header):
                    self.issue("csv-duplicate-column", "the CSV header repeats a column", file=rel)
                    return None
                reader.fieldnames = header
                body = []
                for line, row in enumerate(reader, start=2):
                    if None in row:
                        self.issue("csv-ragged", "more fields than header columns", file=rel, row=str(line))
                        continue
                    body.append((line, {k: (v if v is not None else "") for k, v in row.items()}))
        except UnicodeDecodeError:
            self.issue("encoding-error", "not UTF-8 text", file=rel)
            return None
        except csv.Error as exc:
            self.issue("csv-error", f"malformed CSV: {exc}", file=rel)
            return None
        return header, body

    def spec_path(self, value: Any, file: str, **where: str | None) -> Path | None:
        """A file named inside a spec: must be relative and stay inside the spec folder."""
        if not isinstance(value, str) or not value:
            self.issue("bad-path", f"expected a relative file path, got {value!r}", file=file, **where)
            return None
        path = (self.root / value).resolve()
        if self.root.resolve() not in path.parents:
            self.issue("bad-path", f"path {value!r} leaves the spec folder", file=file, **where)
            return None
        return path
