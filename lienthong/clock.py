"""The hospital's clock.

Vietnam keeps one time zone, UTC+7, with no daylight saving, and DICOM dates and times are the
facility's local time. "Today" in the worklist, the demo studies' date and the times printed on
reports are hospital time whatever the server's or the reader's own time zone: a specialist
consulting from abroad still sees the hospital's day.
"""

from __future__ import annotations

import datetime as dt

HOSPITAL_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


def hospital_time(when: dt.datetime) -> dt.datetime:
    """An aware instant in hospital time."""
    return when.astimezone(HOSPITAL_TZ)


def hospital_today() -> dt.date:
    return dt.datetime.now(HOSPITAL_TZ).date()
