"""The checker: a clean stand-in population passes; one planted violation per constraint kind is found.

Each case picks its row deliberately from the generated panel (so that the edit breaks one rule and no other),
edits the pyarrow tables through pandas, and checks both through the library and through ``check --json``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scrambler.check import CheckReport, check
from scrambler.constraints import CompiledRule, Frame, compile_rules
from scrambler.panel import Panel
from scrambler.population import generate_population
from scrambler.spec import DatasetSpec, load_spec
from scrambler.spec.model import TIME_GRAIN
from scrambler.spec.time import parse_period
from scrambler.tables import panel_to_tables

SEED = 11
PERSONS = 300


@dataclass
class Data:
    spec: DatasetSpec
    panel: Panel
    tables: dict[str, pa.Table]

    def period_index(self, period: int) -> int:
        return self.spec.panel.periods.index(period)

    def codes(self, name: str, period: int) -> np.ndarray:
        """Values of a variable at a period as code strings (None = null), one per panel person."""
        var = self.spec.variables[name]
        values = self.panel.values(name, self.period_index(period))
        if var.is_categorical:
            return np.array([None if v < 0 else var.codes[v] for v in values], dtype=object)
        return np.array([None if np.isnan(v) else v for v in values], dtype=object)

    def has(self, name: str, period: int) -> np.ndarray:
        return np.array([v is not None for v in self.codes(name, period)])

    def present(self, period: int) -> np.ndarray:
        return self.panel.present[self.period_index(period)]

    def pick(self, mask: np.ndarray) -> int:
        """The identifier of the first person matching ``mask``; the case fails loudly when none does."""
        rows = np.nonzero(mask)[0]
        assert len(rows), "no person fits the case: change SEED or PERSONS"
        return int(self.panel.ids[rows[0]])


def make_data(spec: DatasetSpec) -> Data:
    panel = generate_population(spec, PERSONS, SEED)
    return Data(spec, panel, panel_to_tables(panel))


@pytest.fixture(scope="module")
def mini(mini_spec: DatasetSpec) -> Data:
    return make_data(mini_spec)


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory: pytest.TempPathFactory, mini_dir: Path, edit) -> Data:
    """The mini spec with an enum on nationality and a lower wage maximum (the mini itself has neither)."""
    root = tmp_path_factory.mktemp("narrowed") / "mini"
    shutil.copytree(mini_dir, root)
    nationality = 'codelist: nat, group: person, source: "fixture §2",\n     constraints: {required: true'
    edit(root / "variables.yaml", nationality + "}", nationality + ", enum: [L, EU, O]}")
    edit(root / "variables.yaml", "{minimum: 0, maximum: 500}", "{minimum: 0, maximum: 400}")
    return make_data(load_spec(root))


# --- editing tables through pandas --------------------------------------------------------------------------------

class Editor:
    """Pandas copies of the tables (categoricals as plain objects) that go back to Arrow with the same schema."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.frames: dict[str, pd.DataFrame] = {}
        for name, table in data.tables.items():
            df = table.to_pandas()
            for column in df.columns:
                if isinstance(df[column].dtype, pd.CategoricalDtype):
                    df[column] = df[column].astype(object)
            self.frames[name] = df

    def set_cell(self, table: str, person: int, column: str, value: Any) -> None:
        df = self.frames[table]
        rows = df[self.data.spec.identifier] == person
        assert rows.sum() == 1, f"person {person} not in {table}"
        df[column] = df[column].astype(object) if value is None else df[column]
        df.loc[rows, column] = value

    def set_value(self, person: int, period: int, name: str, value: Any) -> int:
        """Set one (person, period, variable) in every table block that shows it; returns the cells edited."""
        spec, edited = self.data.spec, 0
        var = spec.variables[name]
        for table_name, table, t in spec.table_names():
            df = self.frames[table_name]
            if not (df[spec.identifier] == person).any():
                continue
            for block in table.blocks:
                if name in block.variables and (var.is_static or t + block.offset == period):
                    self.set_cell(table_name, person, name + block.suffix, value)
                    edited += 1
        assert edited, f"({person}, {period}, {name}) is in no table"
        return edited

    def tables(self) -> dict[str, pa.Table]:
        out = {}
        for name, df in self.frames.items():
            original = self.data.tables.get(name)
            schema = original.schema if original is not None and original.column_names == list(df.columns) else None
            if schema is None and original is not None:
                schema = pa.schema([original.schema.field(c) for c in df.columns])
            out[name] = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
        return out


# --- the cases -----------------------------------------------------------------------------------------------------

def retired_young(d: Data, e: Editor) -> None:  # implication retired-old
    pid = d.pick(d.present(2020) & np.isin(d.codes("status", 2020), ["U", "I"]) & (d.codes("age", 2020) != "50-64"))
    e.set_value(pid, 2020, "status", "R")


def office_of_other_region(d: Data, e: Editor) -> None:  # combinations office-of-region
    pid = d.pick(d.present(2020) & (d.codes("region", 2020) == "N"))
    e.set_value(pid, 2020, "office", "C")


def job_without_leave(d: Data, e: Editor) -> None:  # mapping job-group (J1/J2 -> STD)
    pid = d.pick(d.present(2020) & np.isin(d.codes("job", 2020), ["J1", "J2"]))
    e.set_value(pid, 2020, "leave", None)


def registered_in_future(d: Data, e: Editor) -> None:  # compare reg-before-period (reg_year is static)
    pid = d.pick(d.present(2020))
    assert e.set_value(pid, 2020, "reg_year", d.spec.panel.end) >= 1


def student_changes(d: Data, e: Editor) -> None:  # constant student-constant
    young = np.isin(d.codes("age", 2021), ["15-19", "20-29"])  # student-young stays satisfied
    pid = d.pick(d.present(2020) & d.present(2021) & (d.codes("student", 2020) == "false")
                 & (d.codes("student", 2021) == "false") & young)
    e.set_value(pid, 2021, "student", True)


def age_jumps_two_classes(d: Data, e: Editor) -> None:  # step age-step
    ages = d.spec.variables["age"].codes
    now = d.codes("age", 2020)
    pid = d.pick(d.present(2020) & d.present(2021) & np.isin(now, ages[:2]) & (now == d.codes("age", 2021))
                 & (d.codes("student", 2021) == "false"))
    row = int(np.nonzero(d.panel.ids == pid)[0][0])
    e.set_value(pid, 2021, "age", ages[ages.index(now[row]) + 2])


def resurrection(d: Data, e: Editor) -> None:  # absorbing dead-absorbing (also breaks dead-absent, see CASES)
    pid = d.pick(d.present(2020) & d.present(2021) & (d.codes("dead", 2021) == "false")
                 & (d.codes("dead", 2022) == "false"))
    e.set_value(pid, 2021, "dead", True)


def denaturalised(d: Data, e: Editor) -> None:  # transition nationality-to-local
    pid = d.pick(d.present(2020) & d.present(2021) & (d.codes("nationality", 2020) == "L")
                 & (d.codes("nationality", 2021) == "L"))
    e.set_value(pid, 2021, "nationality", "EU")


def required_is_null(d: Data, e: Editor) -> None:  # domain: required status null (a non-worker: no job rule fires)
    pid = d.pick(d.present(2020) & np.isin(d.codes("status", 2020), ["U", "I", "R"]))
    e.set_value(pid, 2020, "status", None)


def code_outside_enum(d: Data, e: Editor) -> None:  # domain: nationality enum [L, EU, O] (narrowed spec)
    pid = d.pick(d.present(2020))  # 2020 is the first observed nationality, so no transition applies
    e.set_value(pid, 2020, "nationality", "ZZ")


def wage_above_maximum(d: Data, e: Editor) -> None:  # domain: wage maximum 400 (narrowed spec), rule allows 500
    pid = d.pick(d.present(2020) & d.has("job", 2020))
    e.set_value(pid, 2020, "wage", 450.0)
    e.set_value(pid, 2020, "wage_class", "W3")  # 450 lies in W3: only the domain breaks


def absent_with_values(d: Data, e: Editor) -> None:  # presence: status of a person gone in 2021
    pid = d.pick(d.present(2020) & ~d.present(2021))
    e.set_value(pid, 2021, "status", "U")


def duplicate_identifier(d: Data, e: Editor) -> None:  # unique person_id within a table
    df = e.frames["persons_2020"]
    e.frames["persons_2020"] = pd.concat([df, df.iloc[[3]]], ignore_index=True)


def blocks_disagree(d: Data, e: Editor) -> None:  # panel-consistency: office 2021 in persons_2020 vs persons_2021
    office = d.codes("office", 2021)
    pid = d.pick(d.present(2020) & d.present(2021) & (d.codes("region", 2021) == "N"))
    row = int(np.nonzero(d.panel.ids == pid)[0][0])
    e.set_cell("persons_2021", pid, "office", "A" if office[row] is None else None)  # both allowed with N


def missing_column(d: Data, e: Editor) -> None:
    e.frames["persons_2021"] = e.frames["persons_2021"].drop(columns=["office"])


def unknown_code(d: Data, e: Editor) -> None:
    pid = int(e.frames["persons_2021"]["person_id"].iloc[0])
    e.set_cell("persons_2021", pid, "office_next", "Z")


@dataclass(frozen=True)
class Case:
    name: str
    plant: Callable[[Data, Editor], None]
    rules: tuple[str, ...] = ()  # results that must show violations
    issue: tuple[str, str, str] | None = None  # structural issue: code, table, column
    narrowed: bool = False


CASES = [
    Case("implication", retired_young, ("retired-old",)),
    Case("combinations", office_of_other_region, ("office-of-region",)),
    Case("mapping", job_without_leave, ("job-group",)),
    Case("compare", registered_in_future, ("reg-before-period",)),
    Case("constant", student_changes, ("student-constant",)),
    Case("step", age_jumps_two_classes, ("age-step",)),
    # a person dead in 2021 but shown in 2022 is present in 2021, so dead-absent breaks too: unavoidable here
    Case("absorbing", resurrection, ("dead-absorbing", "dead-absent")),
    Case("transition", denaturalised, ("nationality-to-local",)),
    Case("domain-required-null", required_is_null, ("domain:status",)),
    Case("domain-outside-enum", code_outside_enum, ("domain:nationality",), narrowed=True),
    Case("domain-range", wage_above_maximum, ("domain:wage",), narrowed=True),
    Case("presence", absent_with_values, ("presence:status",)),
    Case("unique-identifier", duplicate_identifier, issue=("unique-error", "persons_2020", "person_id")),
    Case("panel-consistency", blocks_disagree, issue=("consistency-error", "persons_2021", "office")),
    Case("missing-column", missing_column, issue=("missing-column", "persons_2021", "office")),
    Case("unknown-code", unknown_code, issue=("unknown-code", "persons_2021", "office_next")),
]


def assert_only(report: CheckReport, case: Case) -> None:
    results = report.by_rule()
    for rule in case.rules:
        assert results[rule].violations >= 1, f"{rule} missed the planted violation"
        assert results[rule].examples, rule
    others = {r: res.violations for r, res in results.items() if r not in case.rules and res.violations}
    assert others == {}, f"rules that should stay clean: {others}"
    if case.issue is None:
        assert report.issues == []
    else:
        code, table, column = case.issue
        assert [(i.code, i.table, i.variable) for i in report.issues] == [(code, table, column)]
    assert not report.ok


@pytest.mark.parametrize("clean", ["mini", "narrowed"])
def test_clean_population_passes_and_every_rule_runs(clean: str, request: pytest.FixtureRequest) -> None:
    data: Data = request.getfixturevalue(clean)
    report = check(data.spec, data.tables)
    assert report.ok, report.format_text()
    results = report.by_rule()
    for rule in data.spec.rules:  # a rule that never applies could not catch anything below
        assert results[rule.id].checked > 0, rule.id
    assert report.persons == len(np.unique(np.concatenate([t.column("person_id").to_numpy()
                                                           for t in data.tables.values()])))


def test_round_trip_through_pandas_changes_nothing(mini: Data) -> None:
    tables = Editor(mini).tables()
    for name, table in mini.tables.items():  # same schema and values (dictionaries may be re-encoded)
        assert tables[name].schema == table.schema and tables[name].to_pylist() == table.to_pylist(), name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_planted_violation_is_found(case: Case, request: pytest.FixtureRequest, tmp_path: Path, run_cli) -> None:
    data: Data = request.getfixturevalue("narrowed" if case.narrowed else "mini")
    editor = Editor(data)
    case.plant(data, editor)
    tables = editor.tables()
    assert_only(check(data.spec, tables), case)

    folder = tmp_path / "data"
    folder.mkdir()
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
    result = run_cli("check", data.spec.root, folder, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    by_rule = {r["rule"]: r for r in report["results"]}
    for rule in case.rules:
        assert by_rule[rule]["violations"] >= 1
    if case.issue is not None:
        assert [(i["code"], i["table"], i["variable"]) for i in report["issues"]] == [case.issue]


# --- compiled rules on hand-made frames --------------------------------------------------------------------------

def encode(spec: DatasetSpec, name: str, values: list[Any]) -> np.ndarray:
    """Frame encoding: categorical codes as int16 (-1 = null), numbers as float64, time literals in their grain."""
    var = spec.variables[name]
    if var.is_categorical:
        return np.array([-1 if v is None else var.codes.index(v) for v in values], dtype=np.int16)
    grain = TIME_GRAIN.get(var.type)
    return np.array([np.nan if v is None else parse_period(v, grain) if isinstance(v, str) and grain else v
                     for v in values], dtype=np.float64)


def frame(spec: DatasetSpec, period: int = 2020, **columns: list[Any]) -> Frame:
    n = len(next(iter(columns.values())))
    return Frame({k: encode(spec, k, v) for k, v in columns.items()}, np.full(n, period, dtype=np.int64))


@pytest.fixture(scope="module")
def rules(mini_spec: DatasetSpec) -> dict[str, CompiledRule]:
    return {rule.id: rule for rule in compile_rules(mini_spec)}


def test_every_rule_kind_compiles(rules: dict[str, CompiledRule], mini_spec: DatasetSpec) -> None:
    assert {r.kind for r in rules.values()} == {r.kind for r in mini_spec.rules}
    assert all(r.temporal == r.spec.temporal for r in rules.values())


ROW_CASES = [  # rule, columns, expected validity per row
    ("worker-has-job", {"status": ["W", "W", "U", None], "job": ["J1", None, None, None]}, [1, 0, 1, 1]),
    # not_in is true for null: a null status still forbids a job
    ("nonworker-no-job", {"status": [None, None, "U", "W"], "job": ["J1", None, "J2", "J1"]}, [0, 1, 0, 1]),
    ("student-young", {"student": ["true"] * 3 + ["false", None], "age": ["15-19", "20-29", "30-49", "50-64",
                                                                         "50-64"]}, [1, 1, 0, 1, 1]),
    # a numeric range is false for null
    ("job-has-wage", {"job": ["J1", "J1", "J1", None], "wage": [5.0, 10.0, None, 600.0]}, [0, 1, 0, 1]),
    ("office-of-region", {"region": ["N", "N", "E", "S"], "office": ["A", "C", None, "A"]}, [1, 0, 1, 0]),
    # an unmapped (null) source leaves the target free; J4 maps to null
    ("job-group", {"job": ["J1", "J1", "J4", "J4", None], "leave": ["STD", "MAT", None, "STD", "MAT"]},
     [1, 0, 1, 0, 1]),
    # compare holds vacuously when a term is null
    ("reg-before-period", {"reg_year": [2020, 2021, None]}, [1, 0, 1]),
    ("reg-after-birth", {"age": ["50-64", "50-64", None], "reg_year": [2020 - 64, 2020 - 65, 1900]}, [1, 0, 1]),
    ("since-before-end", {"since": ["2020-12", "2021-01", None]}, [1, 0, 1]),  # a year meets months at its end
]


@pytest.mark.parametrize(("rule", "columns", "expected"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_rule(rule: str, columns: dict[str, list[Any]], expected: list[int], rules, mini_spec) -> None:
    valid = rules[rule].is_valid(frame(mini_spec, **columns))
    assert valid.dtype == bool
    assert valid.tolist() == [bool(x) for x in expected]


PAIR_CASES = [  # rule, previous, current, gap, expected
    ("student-constant", ["false", "false", "true", None], ["false", "true", "false", "true"], [1] * 4,
     [1, 0, 0, 1]),
    ("age-step", ["15-19", "15-19", "15-19", "20-29", "15-19", None],
     ["20-29", "30-49", "30-49", "15-19", "15-19", "50-64"], [1, 1, 2, 1, 1, 1], [1, 0, 1, 0, 1, 1]),
    ("dead-absorbing", ["true", "true", "false", "true"], ["true", "false", "true", None], [1] * 4, [1, 0, 1, 1]),
    ("nationality-to-local", ["L", "L", "EU", None, "L"], ["L", "EU", "L", "EU", None], [1] * 5,
     [1, 0, 1, 1, 1]),
]


@pytest.mark.parametrize(("rule", "previous", "current", "gap", "expected"), PAIR_CASES,
                         ids=[c[0] for c in PAIR_CASES])
def test_temporal_rule(rule: str, previous: list[Any], current: list[Any], gap: list[int], expected: list[int],
                       rules, mini_spec) -> None:
    compiled = rules[rule]
    name = compiled.variables[0]
    valid = compiled.pair_valid(encode(mini_spec, name, previous), encode(mini_spec, name, current),
                                np.array(gap, dtype=np.int64))
    assert valid.tolist() == [bool(x) for x in expected]


FAST_PATHS = [  # rule, variable the sampler draws, the other variables (every code and null)
    ("worker-has-job", "job", ("status",)),
    ("nonworker-no-job", "job", ("status",)),
    ("retired-old", "age", ("status",)),
    ("student-young", "age", ("student",)),
    ("maternity-women", "sex", ("leave",)),
    ("dead-absent", "region", ("dead",)),
    ("office-of-region", "office", ("region",)),
    ("office-of-region", "region", ("office",)),
    ("job-group", "leave", ("job",)),
]


@pytest.mark.parametrize(("rule", "name", "others"), FAST_PATHS, ids=[f"{r}-{n}" for r, n, _ in FAST_PATHS])
def test_candidate_mask_agrees_with_trying_each_code(rule: str, name: str, others: tuple[str, ...], rules,
                                                     mini_spec) -> None:
    compiled = rules[rule]
    grids = np.meshgrid(*[np.arange(-1, len(mini_spec.variables[o].codes), dtype=np.int16) for o in others])
    columns = {o: g.ravel() for o, g in zip(others, grids, strict=True)}
    n = len(columns[others[0]])
    k = len(mini_spec.variables[name].codes)
    f = Frame({**columns, name: np.full(n, -1, dtype=np.int16)}, np.full(n, 2020, dtype=np.int64))
    fast = compiled.candidate_mask(name, f, k)
    assert fast is not None and fast.shape == (n, k + 1)
    tried = np.stack([compiled.is_valid(f.with_value(name, np.full(n, c, dtype=np.int16)))
                      for c in [*range(k), -1]], axis=1)  # column k is the null slot, tried with -1
    assert np.array_equal(fast, tried)
    assert tried.any() and not tried.all()  # the comparison is not vacuous: the rule allows and forbids codes
