"""The waterfall's geometry: hand-computed bars, ticks and guides, and the chaining property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.console.charts import Step, logit, value_text, waterfall


def _steps(*contributions: float) -> list[Step]:
    return [Step(f"f{i}", f"Feature {i}", c, str(i)) for i, c in enumerate(contributions)]


def test_two_contributions_chain_from_the_base_to_the_score() -> None:
    # given: base 0, then +1 and -2 (final log-odds -1)
    steps = _steps(1.0, -2.0)

    # when
    chart = waterfall(0.0, steps)

    # then: drawn range [-1, 1] padded by 10% of its span 2 -> [-1.2, 1.2]; 410 px wide plot
    # from x=330, so 1 log-odds unit is 410 / 2.4 = 170.8333 px and log-odds 0 is at 535
    assert (chart.low, chart.high) == pytest.approx((-1.2, 1.2))
    base, up, down, final = chart.rows
    assert (base.direction, base.start, base.end, base.css) == ("total", 0.0, 0.0, "bar-total")
    assert (up.start, up.end) == (0.0, 1.0)
    assert (down.start, down.end) == (1.0, -1.0)
    assert (final.start, final.css) == (-1.0, "bar-total")
    assert up.x == pytest.approx(535.0) and up.width == pytest.approx(170.8333, abs=1e-3)
    assert down.x == pytest.approx(364.1667, abs=1e-3)
    assert down.width == pytest.approx(341.6667, abs=1e-3)
    assert (up.css, up.words) == ("bar-favourable", "raises the score")
    assert (down.css, down.words) == ("bar-adverse", "lowers the score")
    assert chart.log_odds == -1.0
    assert chart.score == pytest.approx(0.268941, abs=1e-6)  # 1 / (1 + e)
    assert final.value_text == "26.9%" and base.value_text == "50%"


def test_ticks_are_probabilities_at_their_logit_inside_the_drawn_range() -> None:
    # given: the same chart; logit(25%) = -ln 3 = -1.0986 and logit(10%) = -2.197
    chart = waterfall(0.0, _steps(1.0, -2.0), thresholds={"approve at": 0.7, "far": 0.95})

    # when
    ticks = {t.label: t for t in chart.ticks}

    # then: only 25%, 50% and 75% lie in [-1.2, 1.2]
    assert list(ticks) == ["25%", "50%", "75%"]
    assert ticks["50%"].x == pytest.approx(535.0)
    assert ticks["25%"].x == pytest.approx(535.0 - math.log(3) * 410 / 2.4)
    # logit(0.7) = ln(7/3) = 0.8473 is drawn; logit(0.95) = 2.944 is outside
    assert [(g.label, round(g.logit, 4)) for g in chart.guides] == [("approve at", 0.8473)]


def test_a_tiny_effect_is_drawn_on_at_least_one_log_odds_unit() -> None:
    # given: a single contribution of 0.01 from base 2
    chart = waterfall(2.0, _steps(0.01))

    # then: the range is widened to span 1 around 2.005, then padded by 0.1 on each side
    assert (chart.low, chart.high) == pytest.approx((1.405, 2.605))


def test_a_zero_contribution_says_so() -> None:
    chart = waterfall(0.0, _steps(0.0))
    assert chart.contributions[0].words == "does not change the score"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "missing"),
        (5000.0, "5,000"),
        (4.5, "4.5"),
        (1234, "1,234"),
        ("permanent", "permanent"),
    ],
)
def test_values_read_as_a_person_would_state_them(value: object, text: str) -> None:
    assert value_text(value) == text


def test_logit_refuses_a_certainty() -> None:
    with pytest.raises(ValueError, match=r"strictly between 0 and 1; got 1\.0"):
        logit(1.0)


finite = st.floats(min_value=-20, max_value=20, allow_nan=False)


@given(base=finite, contributions=st.lists(finite, min_size=0, max_size=12))
def test_bars_chain_and_end_at_base_plus_sum(base: float, contributions: list[float]) -> None:
    # when
    chart = waterfall(base, _steps(*contributions))

    # then: each bar starts where the previous ended, the last ends at base + sum
    bars = chart.contributions
    assert len(bars) == len(contributions)
    previous = base
    for bar, c in zip(bars, contributions, strict=True):
        assert bar.start == previous
        assert bar.end - bar.start == pytest.approx(c, abs=1e-9)
        # the pixels agree: a bar covers exactly its start and end
        assert chart.plot_left - 1e-6 <= bar.x <= chart.plot_right + 1e-6
        assert bar.x + bar.width <= chart.plot_right + 1e-6
        previous = bar.end
    assert previous == pytest.approx(base + math.fsum(contributions), abs=1e-9)
    assert chart.rows[-1].start == previous
    assert all(chart.low <= t.logit <= chart.high for t in chart.ticks)
