"""Small-cell check for aggregated output tables (statistical disclosure control).

Why: KSZ/BCSS hands out anonymous cross-tables (and the phase-2 outputs of pseudonymised extracts) only when
no cell below the threshold K singles persons out, also not after recomputing it from published margins.

Input is a *long* table: dimension columns plus one count column; margin rows carry a total label
("Total", "Totaal", ...) in the dimensions they sum over. Every margin row gives equations
``margin = sum of the rows one published level below it``. Published counts are known; suppressed ones
are unknowns >= 0. Rows that are absent are zeros (long outputs usually omit empty cells), so rows deleted
instead of marked show up as a margin that exceeds its cells. Two passes repeat until nothing changes:

1. interval propagation over all equations: the only unknown of a line, "the rest leaves 0" and the
   chains these open up (a round that fixes new values is one *step*);
2. exact linear algebra per connected group of unknowns: a cell is determined when no null-space vector
   of the equations moves it; this finds cells that need several lines at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scrambler.errors import DataError, Issue, ScramblerError

DEFAULT_THRESHOLD = 5
COUNT_NAMES = ("count", "n", "aantal", "nombre", "anzahl")
DEFAULT_TOTAL_LABELS = ("Total", "TOTAL", "Totaal", "Totaal/Total", "Total/Totaal", "_ALL_")
DEFAULT_SUPPRESSED_MARKERS = ("x", "X", "-", "*", ".", "..", "...", ":", "c", "C")
CODES = ("small-cell", "recoverable-by-difference", "small-difference", "margin-mismatch")
EXACT_CHECK_LIMIT = 2000  # unknowns per connected group for the SVD check (cost grows as n^3)
MAX_ROUNDS = 1000  # bounds are sound at any round; the cap only limits how tight they get
_LINEAR, _BOUNDS = -2, -1  # how a value was found, when not from one margin equation


@dataclass(frozen=True)
class Finding:
    """One result: a stable ``code``, whether it discloses a small group, and where (1-based data row)."""

    code: str
    disclosive: bool
    message: str
    row: int | None = None
    cell: dict[str, str] = field(default_factory=dict)
    value: int | None = None
    step: int | None = None
    members: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != [] and v != {}}


@dataclass
class SmallCellReport:
    """All findings for one table plus the facts needed to judge them."""

    findings: list[Finding]
    threshold: int
    count_column: str
    dimensions: list[str]
    rows: int
    suppressed: int
    recovered: int
    source: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:  # True when nothing is disclosive (margin-mismatch is informative)
        return not any(f.disclosive for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        counts = {c: sum(f.code == c for f in self.findings) for c in CODES}
        return {"ok": self.ok, "source": self.source, "threshold": self.threshold,
                "count_column": self.count_column, "dimensions": self.dimensions, "rows": self.rows,
                "suppressed": self.suppressed, "recovered": self.recovered,
                "disclosive": sum(f.disclosive for f in self.findings), "counts": counts,
                "notes": self.notes, "findings": [f.to_dict() for f in self.findings]}


def load_table(path: str | Path, count_column: str | None = None,
               suppressed_markers: Sequence[str] = DEFAULT_SUPPRESSED_MARKERS) -> pd.DataFrame:
    """Read a CSV (``,``/``;``/tab/``|``, sniffed) or Parquet table; validate its count column.

    Returns the frame with the count column as nullable ``Int64`` (NA = suppressed). CSV is read as text
    (``keep_default_na=False``): "NA" may be a real category and an empty count means suppressed.
    """
    p, suffix = Path(path), Path(path).suffix.lower()
    if not p.is_file():
        raise DataError([Issue("file-not-found", "not a file" if p.exists() else "no such file", file=str(p))])
    if suffix not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        raise DataError([Issue("unknown-format", f"unknown table format {suffix or '(no suffix)'!r}; use "
                               ".csv, .tsv, .txt, .parquet or .pq", file=str(p))])
    try:
        df = pd.read_parquet(p) if suffix in (".parquet", ".pq") else _read_csv(p)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError([Issue("unreadable-table", f"cannot read table: {exc}", file=str(p))]) from exc
    if df.empty:
        raise DataError([Issue("empty-table", "the table has no rows", file=str(p))])
    col = _find_count_column(df, count_column, str(p))
    df[col] = pd.array(_parse_counts(df[col], suppressed_markers, str(p), col), dtype="Int64")
    df.attrs.update(source=str(p), count_column=col)
    return df


def _read_csv(p: Path) -> pd.DataFrame:
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")  # Belgian Excel exports
    try:  # Excel in a Dutch/French locale writes ";"
        sep = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = "\t" if p.suffix.lower() == ".tsv" else ","
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)


def _find_count_column(df: pd.DataFrame, wanted: str | None, source: str) -> str:
    columns = [str(c) for c in df.columns]
    hits = [wanted] if wanted is not None else [c for c in columns if c.strip().casefold() in COUNT_NAMES]
    if len(hits) == 1 and hits[0] in columns:
        return hits[0]
    what = (f"count column {wanted!r} not found" if wanted is not None else
            f"several count columns {hits}" if hits else f"no count column ({', '.join(COUNT_NAMES)})")
    raise DataError([Issue("no-count-column", f"{what} among columns {columns}; name it with --count",
                           file=source, variable=wanted)])


def _parse_counts(s: pd.Series, markers: Sequence[str], source: str, column: str) -> np.ndarray:
    """Counts as float (NaN = suppressed); every negative, fractional or non-numeric value is an issue."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        text = None
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        suppressed = s.isna().to_numpy()
    else:
        text = s.astype("string").str.strip()
        suppressed = (text.isna() | (text == "") | text.isin(list(markers))).to_numpy()
        num = pd.to_numeric(text.where(~suppressed).str.replace(r"^\+", "", regex=True), errors="coerce")
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    issues = []
    with np.errstate(invalid="ignore"):
        fraction = ~np.isnan(values) & (values % 1 != 0)  # inf % 1 is NaN: caught here too
    for label, bad in (("not a number", np.isnan(values) & ~suppressed), ("negative", values < 0),
                       ("not a whole number", fraction)):
        for i in np.flatnonzero(bad)[:20]:
            shown = s.iloc[i] if text is None else text.iloc[i]
            hint = f"; suppressed cells are empty or one of {list(markers)}" if label == "not a number" else ""
            issues.append(Issue("bad-count", f"count {shown!r} is {label}{hint}", file=source,
                                variable=column, row=str(i + 1)))
    if issues:
        raise DataError(sorted(issues, key=lambda x: int(x.row or 0)))
    return values


def check_table(df: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD, count_column: str | None = None,
                total_labels: Sequence[str] = DEFAULT_TOTAL_LABELS,
                suppressed_markers: Sequence[str] = DEFAULT_SUPPRESSED_MARKERS, include_zero: bool = False,
                dimensions: Sequence[str] | None = None, source: str | None = None) -> SmallCellReport:
    """Find small cells, recoverable suppressed cells, small differences and margin mismatches.

    ``total_labels`` match case-insensitively and ignoring blanks around "/"; pass ``""`` to treat empty
    dimension values (SQL ROLLUP's NULL) as totals. ``dimensions`` defaults to every non-count column.
    """
    if int(threshold) < 1:
        raise ScramblerError([Issue("bad-threshold", f"threshold must be at least 1, got {threshold}")])
    source = source or str(df.attrs.get("source", "<table>"))
    col = _find_count_column(df, count_column or df.attrs.get("count_column"), source)
    dims = list(dimensions) if dimensions else [str(c) for c in df.columns if str(c) != col]
    missing = [d for d in dims if d not in df.columns]
    if not dims or missing:
        raise DataError([Issue("no-dimensions", f"dimension columns {missing} not found" if missing else
                               "the table has no dimension column besides the count", file=source)])
    values = _parse_counts(df[col], suppressed_markers, source, col)
    text = {d: df[d].astype("string").fillna("").str.strip() for d in dims}
    labels = set(_norm(pd.Series(list(total_labels), dtype="string")))
    is_total = np.column_stack([_norm(text[d]).isin(labels).to_numpy() for d in dims])
    codes = np.column_stack([pd.factorize(text[d])[0] for d in dims])
    codes[is_total] = -1
    rows = pd.DataFrame(codes).assign(i=np.arange(len(codes)))
    first = rows.groupby(list(range(len(dims))))["i"].transform("min").to_numpy()
    if (dup := np.flatnonzero(first != np.arange(len(codes)))).size:
        raise DataError([Issue("duplicate-cell", f"repeats the dimension values of row {first[i] + 1}",
                               file=source, row=str(i + 1)) for i in dup])
    return _Checker(dims, pd.DataFrame(text).to_numpy(), codes, is_total, values, int(threshold),
                    include_zero).run(col, source)


def _norm(s: pd.Series) -> pd.Series:
    """Total labels compare case-insensitively, without blanks around "/": "Totaal / Total" = "totaal/total"."""
    return s.str.strip().str.replace(r"\s*/\s*", "/", regex=True).str.casefold()


class _Checker:
    """The equations of one table and the state of what an attacker can derive from them."""

    def __init__(self, dims: list[str], labels: np.ndarray, codes: np.ndarray, is_total: np.ndarray,
                 values: np.ndarray, k: int, include_zero: bool) -> None:
        self.dims, self.labels, self.k, self.include_zero, self.values = dims, labels, k, include_zero, values
        self.published = ~np.isnan(values)
        self.level = (is_total * (1 << np.arange(len(dims)))).sum(axis=1)  # bit i set: dim i is a total
        self.notes: list[str] = []
        self.findings: list[Finding] = []
        self._build_equations(codes)
        self._reset()

    def _reset(self) -> None:
        """Known: the published counts. Unknown: every suppressed count, somewhere in [0, inf]."""
        pub, n = self.published, len(self.values)
        self.lo, self.hi = np.where(pub, self.values, 0.0), np.where(pub, self.values, np.inf)
        self.step, self.via, self.steps = np.full(n, -1), np.full(n, _BOUNDS), 0

    def _build_equations(self, codes: np.ndarray) -> None:
        """One equation per margin row and per covering level below it (levels = sets of total dims)."""
        levels = [int(x) for x in np.unique(self.level)]
        margins: list[int] = []
        summed: list[int] = []
        inc_eq, inc_var = [np.zeros(0, dtype=int)], [np.zeros(0, dtype=int)]
        for lm in levels:
            for lc in levels:
                if lc == lm or lc & ~lm or any(x not in (lm, lc) and not x & ~lm and not lc & ~x
                                               for x in levels):
                    continue
                over = lm & ~lc
                keep = [i for i in range(len(self.dims)) if not over >> i & 1]
                m_rows, c_rows = np.flatnonzero(self.level == lm), np.flatnonzero(self.level == lc)
                both = codes[np.r_[m_rows, c_rows]][:, keep]
                inv = (pd.DataFrame(both).groupby(list(range(len(keep))), sort=False).ngroup().to_numpy()
                       if keep else np.zeros(len(both), dtype=int))
                eq_of_group = np.full(inv.max() + 1, -1)
                eq_of_group[inv[: len(m_rows)]] = np.arange(len(m_rows)) + len(margins)
                eq = eq_of_group[inv[len(m_rows):]]
                margins.extend(m_rows.tolist())
                summed.extend([over] * len(m_rows))
                inc_eq.append(eq[eq >= 0])
                inc_var.append(c_rows[eq >= 0])
        self.eq_m = np.array(margins, dtype=int)
        self.eq_over = np.array(summed, dtype=int)
        self.inc_eq, self.inc_var = np.concatenate(inc_eq), np.concatenate(inc_var)
        self.active = np.ones(len(margins), dtype=bool)

    def cell(self, i: int) -> dict[str, str]:
        return dict(zip(self.dims, (str(x) for x in self.labels[i]), strict=True))

    def over(self, e: int) -> str:
        return "+".join(d for i, d in enumerate(self.dims) if self.eq_over[e] >> i & 1)

    def margin(self, e: int) -> str:
        where = ", ".join(f"{d}={v}" for d, v in self.cell(self.eq_m[e]).items())
        return f"margin row {self.eq_m[e] + 1} ({where})"

    def run(self, count_column: str, source: str) -> SmallCellReport:
        self._check_published_equations()
        while self._propagate() and (found := self._linear_pass()):
            self.steps += 1
            for i, v in found.items():
                self.lo[i] = self.hi[i] = v
                self.step[i], self.via[i] = self.steps, _LINEAR
        self._report()
        order = {c: n for n, c in enumerate(CODES)}
        self.findings.sort(key=lambda f: (not f.disclosive, order[f.code], f.step or 0, f.row or 0))
        return SmallCellReport(self.findings, self.k, count_column, self.dims, len(self.values),
                               int((~self.published).sum()), int(((self.step >= 0) & ~self.published).sum()),
                               source, self.notes)

    def _sums(self, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per equation: sum of the known cell values, number of unknown members (cells and margin)."""
        ne = len(self.eq_m)
        total = np.bincount(self.inc_eq, np.where(known, self.lo, 0)[self.inc_var], ne)
        unknown = np.bincount(self.inc_eq, ~known[self.inc_var], ne) + ~known[self.eq_m]
        return total, unknown.astype(int)

    def _check_published_equations(self) -> None:
        """Fully published lines must add up; a small excess is a hidden group, any other a data error."""
        cells, unknown = self._sums(self.published)
        diff = self.values[self.eq_m] - cells
        bad = (unknown == 0) & (diff != 0) | self.published[self.eq_m] & (unknown > 0) & (diff < 0)
        for e in np.flatnonzero(bad):
            d, m = int(diff[e]), self.eq_m[e]
            head = f"{self.margin(e)} = {int(self.values[m])} but its published cells over {self.over(e)}"
            if unknown[e] == 0 and 0 < d < self.k:
                self._add("small-difference", True, f"{head} sum to {int(cells[e])}: a difference of {d} < "
                          f"{self.k}; rows left out of the table would hold that small group", m, value=d)
            else:
                self._add("margin-mismatch", False, f"{head} sum to {int(cells[e])} (difference {d})", m,
                          value=d)
        self.active &= ~bad

    def _propagate(self) -> bool:
        """Tighten [lo, hi] of every unknown from every active equation until nothing changes.

        A round that fixes new values is one step. If bounds clash (margins that contradict each other
        around suppressed cells), the equations involved are dropped and propagation restarts.
        """
        ne, em, pub = len(self.eq_m), self.eq_m, self.published
        for _ in range(MAX_ROUNDS):
            ms = self.active
            ie, iv = self.inc_eq[ms[self.inc_eq]], self.inc_var[ms[self.inc_eq]]
            lo, hi = self.lo, self.hi
            fixed, fin = lo == hi, np.isfinite(hi[iv])
            s_lo, s_hi = np.bincount(ie, lo[iv], ne), np.bincount(ie, np.where(fin, hi[iv], 0), ne)
            n_inf = np.bincount(ie, ~fin, ne)
            new_lo, new_hi = lo.copy(), hi.copy()
            with np.errstate(invalid="ignore"):  # margin = sum(cells), each side bounded by the others
                np.minimum.at(new_hi, iv, hi[em][ie] - (s_lo[ie] - lo[iv]))
                np.maximum.at(new_lo, iv, np.where(n_inf[ie] - ~fin > 0, -np.inf,
                                                   lo[em][ie] - (s_hi[ie] - np.where(fin, hi[iv], 0))))
            np.maximum.at(new_lo, em[ms], s_lo[ms])
            np.minimum.at(new_hi, em[ms], np.where(n_inf > 0, np.inf, s_hi)[ms])
            new_lo, new_hi = np.ceil(new_lo - 1e-9), np.floor(new_hi + 1e-9)
            new_lo[pub], new_hi[pub] = self.values[pub], self.values[pub]
            if (clash := new_lo > new_hi).any():
                self.notes.append(f"{int(clash.sum())} suppressed cells fit no non-negative value; the "
                                  "margins around them were ignored")
                self.active &= ~(clash[em] | np.isin(np.arange(ne), self.inc_eq[clash[self.inc_var]]))
                self._reset()
                continue
            if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
                return True
            if (new := (new_lo == new_hi) & ~fixed).any():
                self.steps += 1
                self.step[new] = self.steps
                single = (np.bincount(ie, ~fixed[iv], ne) + ~fixed[em] == 1) & ms  # one unknown: via it
                hit, hit_m = single[ie] & new[iv], single & new[em]
                self.via[iv[hit]], self.via[em[hit_m]] = ie[hit], np.flatnonzero(hit_m)
            self.lo, self.hi = new_lo, new_hi
        self.notes.append(f"bounds propagation stopped after {MAX_ROUNDS} rounds; some bounds may be loose")
        return True

    def _linear_pass(self) -> dict[int, int]:
        """Unknowns fixed by the equations jointly (over the reals), per connected group of unknowns."""
        fixed, act, ne = self.lo == self.hi, self.active[self.inc_eq], len(self.eq_m)
        eqs = np.r_[self.inc_eq[act], np.flatnonzero(self.active)]
        var = np.r_[self.inc_var[act], self.eq_m[self.active]]
        coef = np.r_[np.ones(int(act.sum())), -np.ones(int(self.active.sum()))]
        rhs = -np.bincount(eqs, np.where(fixed[var], coef * self.lo[var], 0), ne)
        eqs, var, coef = eqs[~fixed[var]], var[~fixed[var]], coef[~fixed[var]]
        label = var.copy()  # connected groups: spread the smallest member id through shared equations
        while True:
            by_eq = np.full(ne, np.iinfo(np.int64).max)
            np.minimum.at(by_eq, eqs, label)
            by_var = np.full(len(self.values), np.iinfo(np.int64).max)
            np.minimum.at(by_var, var, by_eq[eqs])
            if np.array_equal(new := by_var[var], label):
                break
            label = new
        order = np.argsort(label, kind="stable")
        found: dict[int, int] = {}
        for sel in np.split(order, np.flatnonzero(np.diff(label[order])) + 1) if len(order) else []:
            members, rows = np.unique(var[sel]), np.unique(eqs[sel])
            if len(members) > EXACT_CHECK_LIMIT:
                self.notes.append(f"exact check skipped for a group of {len(members)} linked suppressed "
                                  f"cells (limit {EXACT_CHECK_LIMIT}); only bounds were used there")
                continue
            a = np.zeros((len(rows), len(members)))
            a[np.searchsorted(rows, eqs[sel]), np.searchsorted(members, var[sel])] = coef[sel]
            s, vt = np.linalg.svd(a)[1:]
            rank = int((s > 1e-9 * max(1.0, s.max(initial=0))).sum())
            x = np.linalg.lstsq(a, rhs[rows], rcond=None)[0]
            for j in np.flatnonzero(np.all(np.abs(vt[rank:]) < 1e-8, axis=0)):  # no null vector moves j
                v, i = round(float(x[j])), int(members[j])
                if abs(x[j] - v) < 1e-6 and self.lo[i] <= v <= self.hi[i]:
                    found[i] = v
        return found

    def _small(self, x: np.ndarray) -> np.ndarray:
        return ((x > 0) | (self.include_zero & (x == 0))) & (x < self.k)

    def _add(self, code: str, disclosive: bool, message: str, row: int, **kw: Any) -> None:
        self.findings.append(Finding(code, disclosive, message, int(row) + 1, self.cell(row), **kw))

    def _report(self) -> None:
        k, lo, fixed = self.k, self.lo, self.lo == self.hi
        for i in np.flatnonzero(self.published & self._small(self.values)):
            self._add("small-cell", True, f"published {'margin' if self.level[i] else 'cell'} count "
                      f"{int(self.values[i])} is below the threshold {k}", i, value=int(self.values[i]))
        small = self._small(lo)
        for i in np.flatnonzero(~self.published & (self.step >= 0)):
            e = int(self.via[i])
            how = (f"{self.margin(e)} minus its other cells over {self.over(e)}" if e >= 0 else
                   "several margins combined (linear algebra)" if e == _LINEAR else
                   "the margins leave no other value (bounds)")
            verdict = f"below the threshold {k}" if small[i] else "not small, but the suppression fails"
            self._add("recoverable-by-difference", bool(small[i]), f"suppressed, but equals {int(lo[i])} by "
                      f"{how}, step {self.step[i]}: {verdict}", i, value=int(lo[i]), step=int(self.step[i]))
        cells, unknown = self._sums(fixed)
        resid = lo[self.eq_m] - cells
        for e in np.flatnonzero(self.active & fixed[self.eq_m] & (unknown >= 2) & (resid > 0) & (resid < k)):
            m, members = self.eq_m[e], [int(v) for v in self.inc_var[self.inc_eq == e] if not fixed[v]]
            self._add("small-difference", True,
                      f"{self.margin(e)} = {int(lo[m])} minus its known cells over {self.over(e)} leaves "
                      f"{int(resid[e])} < {k} for the {len(members)} suppressed cells (rows "
                      f"{', '.join(str(v + 1) for v in members)}): each of them is small", m,
                      value=int(resid[e]), members=[self.cell(v) for v in members])
