"""Numbers for people: counts, bytes, durations and shares, short enough for chart labels and tables; and
texts cut to fit them."""

from __future__ import annotations

_COUNT_SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def compact(value: float) -> str:
    """``1234567`` -> ``1.2M``: for axis ticks and bar labels, where width matters more than digits."""
    for scale, suffix in _COUNT_SUFFIXES:
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:.0f}{suffix}" if abs(scaled) >= 100 else f"{scaled:.3g}{suffix}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def count(value: float | None) -> str:
    """``1234567`` -> ``1,234,567``: exact counts for tables; ``—`` when unknown."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def size(value: float | None) -> str:
    """Bytes in decimal units (``1.5 MB``), as storage and transfer are billed."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in _BYTE_UNITS:
        if abs(amount) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.3g} {unit}"
        amount /= 1000
    raise AssertionError("unreachable: the last unit always returns")


def duration(seconds: float | None) -> str:
    """``83.2`` -> ``1m 23s``; sub-second times keep milliseconds, since small demo runs have them."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def share(part: float | None, whole: float | None) -> str:
    """``part`` as a percentage of ``whole`` (``12.3%``); ``—`` when the whole is zero or unknown."""
    if part is None or not whole:
        return "—"
    percent = 100 * part / whole
    if percent != 0 and abs(percent) < 0.1:
        return "<0.1%" if percent > 0 else ">-0.1%"
    return f"{percent:.1f}%"


def shortened(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, an ellipsis marking the cut."""
    return text if len(text) <= chars else text[: chars - 1] + "…"
