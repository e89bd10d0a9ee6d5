"""Parameters of an intent, read from its text by rules: durations, percentiles, fractions,
device classes and tiers. Pure functions over strings: the encoder decides the kind, these read
the numbers.

The rules (also the conventions the labelled sets were written with):

- durations: a number (digits or words) and a unit (us, ms, s, min, h, day, week): "30 ms" -> 0.03,
  "2 s", "one second"; "half a second", "a quarter of a second"; "the next day", "an hour".
- percentiles: "p99" / "99th percentile" / "99% of requests" / "nine in ten requests" /
  "half of all requests"; "median" 0.5; "every"/"all"/"any" request, "worst case", "never exceed"
  1.0; none of these -> the tail, :data:`DEFAULT_PERCENTILE`.
- fractions: "10%" / "10 percent" / "one in ten" / "a tenth" / "half" / "0.1" (first in the text).
- device classes: catalog names however vendors write them ("ESP32-S3", "nRF52840s", "nrf52" if
  unique) and catalog kinds ("microcontrollers" -> mcu).
- tiers: device (on-device, locally, devices, microcontrollers, sensors), edge (edge, MEC, base
  station, jetson), cloud (cloud, data centre, a100); a tier after "off", "from", "out of",
  "instead of" is where things move away from, not to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from tinylarge.scenario.intent_kinds import IntentKind, Tier

DEFAULT_PERCENTILE = 0.99  # an SLO that names no percentile is read as one on the tail


class MissingParameterError(ValueError):
    """An in-scope intent without the parameter its kind needs (the reason says what to add)."""


# --- numbers -------------------------------------------------------------------------------------

_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUE = {w: i for i, w in enumerate(_SMALL)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_WORD_NUM = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_SMALL[1:10])}))?"
    rf"|{'|'.join(sorted(_SMALL, key=len, reverse=True))}|(?:a |one )?hundred)"
)
# digits (not inside a name such as nrf52840 or p99) or number words
NUM = rf"(?:(?<![\w.])\d*\.?\d+(?![\d])|\b{_WORD_NUM}\b)"


def number(text: str) -> float:
    """The value of a :data:`NUM` match: ``"12"``, ``"0.5"``, ``"twenty-five"``, ``"a hundred"``."""
    text = text.strip().lower()
    if re.fullmatch(r"\d*\.?\d+", text):
        return float(text)
    if text.endswith("hundred"):
        return 100.0
    parts = re.split(r"[- ]", text)
    return float(sum(_WORD_VALUE[p] for p in parts))


_FRACTION_WORDS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fifth": 5,
    "fifths": 5, "sixth": 6, "eighth": 8, "eighths": 8, "tenth": 10, "tenths": 10, "twentieth": 20,
    "hundredth": 100,
}  # fmt: skip
_FRAC_WORD = rf"(?:{'|'.join(sorted(_FRACTION_WORDS, key=len, reverse=True))})"
# "half", "a tenth", "two thirds", "one quarter"
_FRAC = rf"(?:(?:(?P<fnum>{_WORD_NUM}|an?)\s+)?(?P<fword>{_FRAC_WORD})\b)"


def _fraction_word(fnum: str | None, fword: str) -> float:
    count = 1.0 if fnum in (None, "a", "an") else number(fnum)
    return float(Fraction(1, _FRACTION_WORDS[fword]) * Fraction(count))


def normalise(text: str) -> str:
    """Lower case, one kind of dash and space, ``<=`` for the symbol."""
    text = text.lower().replace("\u2264", "<=").replace("\u00b5s", "us").replace("\u03bcs", "us")
    text = re.sub(r"[\u2010-\u2015]", "-", text)
    return re.sub(r"\s+", " ", text).strip()


# --- durations -----------------------------------------------------------------------------------

_UNITS = {
    "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "day": 86400.0, "days": 86400.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip
_UNIT = rf"(?P<unit>{'|'.join(sorted(_UNITS, key=len, reverse=True))})\b"
_LONG_UNIT = r"(?P<lunit>minute|hour|day|week)\b"


@dataclass(frozen=True)
class Found:
    value: float
    start: int
    end: int


def _spans_free(found: list[Found]) -> list[Found]:
    """Keep the earliest, then longest, of overlapping matches; sorted by position."""
    kept: list[Found] = []
    for f in sorted(found, key=lambda f: (f.start, f.start - f.end)):
        if all(f.start >= k.end or f.end <= k.start for k in kept):
            kept.append(f)
    return kept


def find_durations(text: str) -> list[Found]:
    """Every duration in ``text`` (normalised), in seconds, in text order."""
    found = []
    for m in re.finditer(rf"(?P<num>{NUM})\s*-?\s*{_UNIT}", text):
        found.append(Found(number(m["num"]) * _UNITS[m["unit"]], m.start(), m.end()))
    for m in re.finditer(rf"{_FRAC}\s+(?:of\s+)?an?\s+{_UNIT}", text):  # half a second
        value = _fraction_word(m["fnum"], m["fword"]) * _UNITS[m["unit"]]
        found.append(Found(value, m.start(), m.end()))
    for m in re.finditer(rf"\b(?:an?|the next|next|the coming|coming|this)\s+{_LONG_UNIT}", text):
        found.append(Found(_UNITS[m["lunit"]], m.start(), m.end()))
    return _spans_free(found)


# --- percentiles ---------------------------------------------------------------------------------

_REQUESTS = (
    r"(?:requests?|inferences?|calls?|queries|query|predictions?|responses?|replies|samples?|"
    r"classifications?|answers?|messages?|transactions?)"
)
_ALL_OF = r"(?:of\s+)?(?:all\s+)?(?:the\s+|our\s+)?"


def find_percentile(text: str) -> float:
    """The latency percentile an SLO names (0.99 = p99; 1.0 = every request); see the module."""
    rules = [
        (r"(?<![\w])p(?P<v>\d+(?:\.\d+)?)\b", lambda m: float(m["v"]) / 100),
        (
            rf"(?P<v>{NUM})\s*(?:st|nd|rd|th)?\s*-?\s*percentile",
            lambda m: number(m["v"]) / 100,
        ),
        (
            rf"(?P<v>{NUM})\s*(?:%|percent|per cent)\s+{_ALL_OF}{_REQUESTS}",
            lambda m: number(m["v"]) / 100,
        ),
        (
            rf"(?P<a>{NUM})\s+(?:out\s+)?(?:of|in)\s+(?P<b>{NUM})\s+{_REQUESTS}",
            lambda m: number(m["a"]) / number(m["b"]),
        ),
        (rf"{_FRAC}\s+{_ALL_OF}{_REQUESTS}", lambda m: _fraction_word(m["fnum"], m["fword"])),
        (r"\bmedian\b", lambda m: 0.5),
        (
            rf"\b(?:every|all|any|each)\s+(?:\w+\s+)?(?:{_REQUESTS}|inference)\b"
            r"|worst[- ]case|\bmax(?:imum)? latency|never (?:\w+\s+)?(?:exceed|go over|go above)",
            lambda m: 1.0,
        ),
    ]
    for pattern, value in rules:
        m = re.search(pattern, text)
        if m:
            return value(m)
    return DEFAULT_PERCENTILE


# --- fractions -----------------------------------------------------------------------------------


def find_fractions(text: str) -> list[Found]:
    """Every fraction in ``text`` (normalised), in text order; durations are not fractions."""
    durations = find_durations(text)
    found = []
    for m in re.finditer(rf"(?P<v>{NUM})\s*(?:%|percent\b|per cent\b|pct\b)", text):
        found.append(Found(number(m["v"]) / 100, m.start(), m.end()))
    pattern = rf"(?P<a>{NUM})\s+(?:[a-z]+\s+)?(?:in|out of)\s+(?:every\s+)?(?P<b>{NUM})"
    for m in re.finditer(pattern, text):
        if number(m["b"]) > 0:
            found.append(Found(number(m["a"]) / number(m["b"]), m.start(), m.end()))
    for m in re.finditer(_FRAC, text):
        found.append(Found(_fraction_word(m["fnum"], m["fword"]), m.start(), m.end()))
    for m in re.finditer(r"(?<![\w.])\d*\.\d+(?![\w%]|\s*(?:%|percent))", text):
        found.append(Found(float(m.group(0)), m.start(), m.end()))
    free = [
        f for f in found if all(f.end <= d.start or f.start >= d.end for d in durations)
    ]  # "half a second" is a duration
    return _spans_free(free)


# --- device classes and tiers --------------------------------------------------------------------

_KIND_ALIASES = {
    "mcu": "mcu", "mcus": "mcu", "microcontroller": "mcu", "microcontrollers": "mcu",
    "sbc": "sbc", "sbcs": "sbc", "jetson": "jetson-orin-nano", "raspberrypi": "rpi4",
    "raspberrypis": "rpi4", "raspberrypi4": "rpi4",
}  # fmt: skip


def find_device_classes(text: str) -> list[str]:
    """Catalog device names and kinds named in ``text``, in order, each once."""
    from tinylarge.scenario.intent_kinds import device_classes

    names = {re.sub(r"[^a-z0-9]", "", n): n for n in device_classes()}
    words = re.findall(r"[a-z0-9]+", text.lower())
    found: list[str] = []
    i = 0
    while i < len(words):
        for span in (3, 2, 1):
            token = "".join(words[i : i + span])
            name = _device_name(token, names)
            if name:
                found.append(name)
                i += span
                break
        else:
            i += 1
    return list(dict.fromkeys(found))


def _device_name(token: str, names: dict[str, str]) -> str | None:
    for cand in (token, token[:-1] if token.endswith("s") else ""):
        if cand in names:
            return names[cand]
        if cand in _KIND_ALIASES:
            return _KIND_ALIASES[cand]
    if len(token) >= 5 and re.search(r"\d", token):  # "nrf52", "esp32": a unique prefix
        matches = [n for key, n in names.items() if key.startswith(token)]
        if len(matches) == 1:
            return matches[0]
    return None


_TIER_WORDS = {
    Tier.DEVICE: r"on[- ]device|locally|local|devices?|microcontrollers?|mcus?|sensors?",
    Tier.EDGE: r"edge|mec|base[- ]stations?|jetsons?",
    Tier.CLOUD: r"cloud|data[- ]?cent(?:er|re)s?|a100s?",
}
_AWAY = r"(?:off|from|out of|away from|instead of|rather than|not|no|without)"


def find_tiers(text: str) -> list[Tier]:
    """The tiers ``text`` puts work on (not those it moves work away from), each once."""
    found: list[tuple[int, Tier]] = []
    for tier, words in _TIER_WORDS.items():
        for m in re.finditer(rf"\b(?:{words})\b", text):
            before = " ".join(text[: m.start()].split()[-3:])
            if not re.search(rf"\b{_AWAY}\b", before):
                found.append((m.start(), tier))
    return list(dict.fromkeys(t for _, t in sorted(found)))


# --- per kind ------------------------------------------------------------------------------------

_WINDOW_WORDS = r"\b(?:for|over|during|next|coming|this)\s+(?:the\s+)?(?:next\s+|coming\s+)?$"


def parse_params(kind: IntentKind, text: str) -> dict[str, object]:
    """The parameters ``kind`` needs, read from ``text``; raises :class:`MissingParameterError`
    naming what is missing or ambiguous. Values are not range-checked here (the kind's model
    does that, so a 150% budget is refused with the model's message)."""
    text = normalise(text)
    params: dict[str, object] = {}
    if kind in (IntentKind.LATENCY_SLO, IntentKind.MINIMISE_ENERGY):
        classes = find_device_classes(text)
        if len(classes) > 1:
            raise MissingParameterError(
                f"names several device classes ({', '.join(classes)}); give one per intent"
            )
        if classes:
            params["device_class"] = classes[0]
    if kind == IntentKind.LATENCY_SLO:
        durations = find_durations(text)
        targets = [d for d in durations if not re.search(_WINDOW_WORDS, text[: d.start])]
        if not targets:
            raise MissingParameterError("no latency target found (say e.g. 'under 50 ms')")
        params["target_s"] = targets[0].value
        params["percentile"] = find_percentile(text)
    elif kind == IntentKind.MINIMISE_ENERGY:
        durations = find_durations(text)
        if durations:
            params["window_s"] = durations[0].value
    elif kind in _FRACTION_PARAM:
        fractions = find_fractions(text)
        if not fractions:
            name = _FRACTION_PARAM[kind]
            raise MissingParameterError(f"no {name} found (say e.g. '10%' or 'one in ten')")
        params[_FRACTION_PARAM[kind]] = fractions[0].value
    elif kind == IntentKind.PLACEMENT:
        tiers = find_tiers(text)
        if len(tiers) != 1:
            what = "several tiers (" + ", ".join(tiers) + ")" if tiers else "no tier"
            raise MissingParameterError(f"names {what}; name one of device, edge, cloud")
        params["tier"] = tiers[0].value
    return params


_FRACTION_PARAM = {
    IntentKind.OFFLOAD_BUDGET: "max_offload_fraction",
    IntentKind.CANARY_ROLLOUT: "fraction",
    IntentKind.BATTERY_SAVER: "battery_below",
}
