"""Keep request bodies out of the log when BentoML refuses one that does not validate.

BentoML logs every ``/decide`` body its own input model refuses as an ERROR with
the traceback, and pydantic's traceback quotes the values received
(``input_value=...``): personal data, and anything a client pasted into the
body, would be written to the service's log. :func:`redact_validation_errors`
puts a filter on BentoML's logger that keeps the line (path, method, where and
what kind of error) and drops the traceback with the values. The client still
gets BentoML's 400 answer naming the fields.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

__all__ = ["BENTOML_HTTP_LOGGER", "redact_validation_errors"]

#: the logger BentoML's ``log_exception`` writes to
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


class _DropValidationInputs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            where = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['type']}"
                for error in exc.errors(include_input=False, include_context=False)
            )
            # the message is %-formatted with record.args: a literal % must be doubled
            note = f" (body refused: {exc.error_count()} validation error(s): {where};" + (
                " values not logged)"
            )
            record.msg = str(record.msg) + note.replace("%", "%%")
            record.exc_info = None
            record.exc_text = None
        return True


def redact_validation_errors() -> None:
    """Install the filter once per process (calling again changes nothing)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, _DropValidationInputs) for f in logger.filters):
        logger.addFilter(_DropValidationInputs())
