"""The catalogue of error codes.

Every :class:`scrambler.errors.Issue` carries one of these codes: a stable slug that scripts and tests can match
on, with a one-line meaning. ``docs/errors.md`` is generated from this table (``python -m scrambler.codes``) and
a test keeps the two, and the codes the source raises, in step: every code raised anywhere is listed here and
every entry is raised somewhere.
"""

from __future__ import annotations

from enum import StrEnum

# (code, one-line meaning), grouped by where the problem is found. Order is the order of docs/errors.md.
CATALOGUE: dict[str, tuple[tuple[str, str], ...]] = {
    "Spec files": (
        ("missing-file", "a file the spec needs (dataset.yaml, variables.yaml, ...) is absent"),
        ("file-too-large", "a spec file is larger than the loader accepts"),
        ("encoding-error", "a spec file is not UTF-8 text"),
        ("yaml-error", "a YAML file does not parse, nests too deep or expands too many aliases (file and line given)"),
        ("yaml-structure", "a YAML value has the wrong shape (a list where a mapping is expected, ...)"),
        ("missing-key", "a required key is absent (a dataset name, a rule id, ...)"),
        ("unknown-key", "a key the spec language does not define"),
        ("bad-path", "a file path in the spec is not relative or leaves the spec folder"),
        ("bad-codelist-name", "a code list name is not a plain file name"),
        ("csv-error", "a CSV file of the spec is malformed"),
        ("csv-empty", "a CSV file of the spec has no header"),
        ("csv-duplicate-column", "a CSV header repeats a column"),
        ("csv-ragged", "a CSV row has more fields than the header"),
    ),
    "Variables and code lists": (
        ("duplicate-variable", "a variable is declared twice"),
        ("bad-type", "a variable's type is not one of the spec language's types"),
        ("bad-value", "a setting has a value outside what it accepts (the message names setting and value)"),
        ("bad-pattern", "a pattern is not a valid regular expression"),
        ("missing-source", "a variable or rule has no source: the deliberation clause that authorises it"),
        ("todo-source", "a source is still TODO (a drafted spec): a deliberation clause is needed"),
        ("missing-codelist", "a categorical or ordinal variable names no code list"),
        ("empty-codelist", "a code list has no codes"),
        ("codelist-no-code", "a code list file has no 'code' column"),
        ("codelist-empty-code", "a code list row has an empty code"),
        ("codelist-duplicate-code", "a code appears twice in a code list"),
        ("codelist-bad-weight", "a code list weight is not a number >= 0"),
        ("unknown-attribute", "a code list attribute the rule or generator names does not exist"),
        ("unknown-code", "a code that is not in the variable's code list"),
        ("unknown-variable", "a name that is not a declared variable"),
        ("unknown-group", "a variable group that is not declared"),
        ("unknown-table", "a table name that the spec does not declare"),
        ("type-mismatch", "a setting or rule does not fit the variable's type (perturb on a code, pattern on a year)"),
        ("name-too-long", "a name is longer than an export format allows"),
        ("invalid-name", "a name an export format cannot take"),
        ("reserved-name", "a name that is a reserved word of an export format"),
        ("duplicate-name", "two columns map to the same name in an export format"),
        ("invalid-table-name", "a table name that is not usable as a file name"),
        ("reserved-table-name", "a table name the tool reserves for itself"),
    ),
    "Rules": (
        ("unknown-kind", "a rule kind the spec language does not define"),
        ("bad-rule", "a rule cannot be parsed or makes no sense for its variables"),
        ("duplicate-rule", "a rule id is used twice"),
        ("missing-reason", "a rule has no one-line reason"),
        ("contradiction", "rules contradict: a premise that can never hold, a cycle of comparisons (rules named)"),
        ("empty-domain", "the constraints leave a variable no allowed value"),
        ("unknown-method", "a scramble method the spec language does not define"),
        ("duplicate-method", "a variable has two scramble methods"),
        ("bad-strata", "a swap stratum is drawn after the block it stratifies"),
    ),
    "Data": (
        ("missing-data", "the data folder does not exist or holds no table"),
        ("missing-table", "a declared table has no file"),
        ("ambiguous-table", "several files hold the same table"),
        ("duplicate-table", "a table is found twice"),
        ("unexpected-table", "a file holds a table the spec does not declare"),
        ("unreadable-file", "a data file cannot be read"),
        ("unreadable-table", "a table cannot be read"),
        ("missing-column", "a column the spec declares is absent"),
        ("unexpected-column", "a column the spec does not declare"),
        ("unknown-column", "a column name that the file does not hold"),
        ("duplicate-column", "a column appears twice"),
        ("invalid-column-name", "a column name is not text"),
        ("columns-differ", "the tables of one family do not have the same columns"),
        ("bad-name", "a column name is not lower_snake_case"),
        ("type-error", "a value cannot be read as the variable's type (file, column, row and value given)"),
        ("required-null", "a required variable is null"),
        ("consistency-error", "a static variable differs between tables of the same person"),
        ("unique-error", "identifiers repeat where they must be unique"),
        ("bad-identifier", "the identifier is null, not whole or not unique"),
        ("no-identifier", "no column can serve as the identifier"),
        ("no-period", "no period can be read from the table names"),
        ("bad-period", "a period in a table name cannot be read"),
        ("mixed-grain", "the table names mix period grains"),
        ("no-presence", "no presence variable can be found"),
        ("empty-input", "the input holds no person"),
        ("empty-table", "a table has no rows"),
        ("missing-driver", "a database driver is not installed"),
        ("database-error", "the database cannot be reached or a query fails"),
        ("bad-mapping", "the mapping from spec tables to SQL tables or queries is malformed"),
    ),
    "Checks (rule results)": (
        ("constraint-error", "a value breaks its variable's type, code list or single-variable constraints"),
        ("presence-error", "a variable is present or absent where its scope says otherwise"),
        ("relation-error", "a row breaks a relation between variables"),
        ("temporal-error", "a person's values across periods break a rule across time"),
    ),
    "Runs": (
        ("bad-argument", "a command-line argument is out of range (--persons, --seed, --k, ...)"),
        ("unknown-format", "an export format the tool does not write"),
        ("too-big", "the run would need more memory than is available (figures given)"),
        ("unsatisfiable", "the constraints cannot be met for some rows (rules named)"),
        ("check-failed", "the independent check found violations: nothing was published"),
        ("draw-failed", "the process drawing half of the persons ended without a result: nothing was written"),
        ("real-situation", "output still depicts a real situation after the guard's redraws"),
        ("id-reuse", "a new identifier equals an input identifier"),
        ("scheduler-unreachable", "the dask scheduler cannot be reached"),
        ("input-mismatch", "the --input is not the one the run was made from (fingerprints differ)"),
        ("missing-manifest", "a folder has no manifest.json where one is needed"),
        ("bad-manifest", "manifest.json is malformed or lacks a needed figure"),
        ("missing-spec", "the spec a folder's manifest names cannot be found"),
        ("national-number-birth-year", "a birth year a national number cannot encode"),
        ("national-number-missing-birth-date", "a birth date is missing, so no national number can be made"),
        ("national-number-serials-exhausted", "too many persons share a birth date for the national number's serials"),
    ),
    "Outputs": (
        ("output-exists", "the output folder exists and --force was not given"),
        ("output-is-file", "the output path is a file"),
        ("output-not-scrambler", "--force would replace a folder that is not a scrambler output"),
        ("output-overlaps-input", "the output is, lies inside or contains an input of the command"),
        ("disk-full", "the disk filled up during the run: nothing was published"),
        ("out-of-memory", "memory ran out during the run: nothing was published"),
    ),
    "Exports": (
        ("bad-dtype", "a column's data type does not fit the export"),
        ("non-finite", "infinite values cannot be stored"),
        ("integer-too-large", "an integer beyond 2^53 cannot be stored exactly as a number"),
        ("string-too-long", "a text value is longer than the format allows"),
        ("line-break", "SAS cannot read text with line breaks from CSV"),
    ),
    "Small-cell tables": (
        ("file-not-found", "the table file does not exist"),
        ("bad-threshold", "the small-cell threshold is below 1"),
        ("no-count-column", "the table has no count column"),
        ("no-dimensions", "the table has no dimension column"),
        ("bad-count", "a count is not a whole number >= 0"),
        ("duplicate-cell", "two rows share the same dimension values"),
    ),
}


def _flat() -> dict[str, str]:
    out: dict[str, str] = {}
    for entries in CATALOGUE.values():
        for code, meaning in entries:
            out.setdefault(code, meaning)
    return out


MEANINGS: dict[str, str] = _flat()

#: The codes as an enum (``Code("bad-value")``, ``Code.BAD_VALUE``); members are strings, so they compare
#: equal to the slugs in :class:`~scrambler.errors.Issue`.
Code = StrEnum("Code", [(c.upper().replace("-", "_"), c) for c in MEANINGS])  # type: ignore[misc]


def markdown() -> str:
    """docs/errors.md: every code with its meaning, by area."""
    lines = ["# Error codes", "",
             "Every problem scrambler reports is an issue with one of these codes, where it was found (file, table,",
             "rule, variable, row) and a message. Generated from `scrambler/codes.py` by `python -m scrambler.codes`;",
             "a test keeps this page, the catalogue and the codes the source raises in step.", ""]
    for area, entries in CATALOGUE.items():
        lines += [f"## {area}", "", "| code | meaning |", "|---|---|"]
        seen = set()
        for code, meaning in entries:
            if code in seen:
                continue
            seen.add(code)
            lines.append(f"| `{code}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
