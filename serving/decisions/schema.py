"""Tables of the decisions package: the stop switch of each use case."""

from __future__ import annotations

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from serving.ledger.schema import TIMESTAMP_LENGTH, Base

__all__ = ["SwitchRow"]


class SwitchRow(Base):
    """The stop switch of one use case (absent = running); every change is also in the chain."""

    __tablename__ = "decision_switches"

    use_case: Mapped[str] = mapped_column(String(200), primary_key=True)
    stopped: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    changed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
