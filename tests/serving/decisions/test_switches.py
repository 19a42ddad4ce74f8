"""The stop switch cannot be read: no decision is given (503), and the database URL is not shown."""

from __future__ import annotations

import pytest

from serving.decisions.errors import RecordFailed
from serving.decisions.switches import StopSwitches
from serving.http.errors import STATUS
from serving.ledger import DecisionLog


def test_an_unreadable_switch_refuses_the_decision_as_unavailable() -> None:
    # given: a ledger on a port where nothing listens (connection refused at once)
    log = DecisionLog("postgresql+psycopg://docket:pw-NotShown@127.0.0.1:1/ledger")

    # when / then
    with pytest.raises(RecordFailed) as caught:
        StopSwitches(log).is_stopped("credit-eligibility")
    assert STATUS[caught.value.kind] == 503
    assert "pw-NotShown" not in str(caught.value)
