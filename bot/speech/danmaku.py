"""The danmaku pre-pass: numbers that chat means as sounds or codes, not as quantities.

A general normaliser reads 666 as 六百六十六 and 2333 as 两千三百三十三; a viewer reads them 六六六
and 二三三三. What the pre-pass rewrites is final (spelled-out digits) or put into a form the general
normaliser reads right (10w -> 10万, 2-0 -> 2比0, 1v1 -> 1V1); everything else is left for it.

The rules, and why:
- a run of one repeated digit (66, 666, 88, 999), 2 followed by 3s (233, 2333), and the codes 520,
  521, 1314, 5201314, 886, 748, 7456, 9494, 995, 4396: digit by digit — unless a unit or measure word
  follows (88元, 11点, 22岁, 1314个): then they are amounts;
- 250 alone: 二百五 (the insult is said that way);
- five or more digits that are not a round amount (uids, room numbers, phone numbers): digit by digit;
- a year alone (2024, 1998) and a birth cohort (98年的, 95后): digit by digit;
- -5℃: 零下 (a temperature below zero is not "negative");
- 10w, 1.5w: 万; 3k: 千 (10k: ten thousand in English; 2k/4k/8k are screen resolutions: the letter K);
- 2-0, 3-5天: 比 (a score), or 到 (a range, when a unit follows);
- 1v1, 5v5: the v is said as the letter V (the general normaliser would read "volt").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.speech.language import Language

ZH_DIGITS = "零一二三四五六七八九"
EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

UNITS = (
    "元块毛角分个人岁年月日号点秒次楼级万千百亿倍米斤克度张条只位天周票遍局场把根本部页集章名层关期届"
    "小时分钟公里寸尺升折成斤杯瓶包件台辆首句字多来余"
)
"""Measure words and units: a number before one of them is an amount, never a code."""

CODES = frozenset({"520", "521", "1314", "5201314", "886", "748", "7456", "9494", "995", "4396"})

_BEFORE = r"(?<![0-9¥$€£%第+\-])(?<![0-9][.,:/])"
_AFTER = rf"(?![0-9%‰°℃]|[.,:/][0-9]|[A-Za-z]|\s?[{UNITS}]|加(?!油))"
"""What may not follow a code: more of the number, a unit, a letter, or 加 as in 99+ (but 2024加油 is a year)."""
_NUMBER = re.compile(_BEFORE + r"([0-9]+)" + _AFTER)
_BIRTH_YEAR = re.compile(r"(?<![0-9])([0-9]{2})(?=年(?:的|生|出生|人)|后(?![0-9面边来]))")
_YEAR = re.compile(_BEFORE + r"((?:19|20)[0-9]{2})(?![-/])" + _AFTER)
_FROST = re.compile(r"(?<![0-9])-([0-9]+(?:\.[0-9]+)?)(?=\s?(?:℃|°C|度))")
_WAN_QIAN = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)([wWkK])(?![A-Za-z])")
_DASH = re.compile(rf"(?<![0-9.,:/\-])([0-9]{{1,3}})-([0-9]{{1,3}})(?![0-9.,:/\-])(\s?[{UNITS}])?")
_ASCII_DIGIT = re.compile(r"[0-9]")
_DECIMAL_POINT = re.compile(r"(?<=[0-9])\.(?=[0-9])")
_VERSUS = re.compile(r"(?<![0-9.])([0-9]{1,2})\s?[vV]\s?([0-9]{1,2})(?![0-9.])")


def spell_digits(text: str, lang: Language) -> str:
    """The digits of `text` one by one in `lang`'s words, a decimal point as a point, other characters
    kept: 520 -> 五二零 / five two zero, 3.5 -> 三点五."""
    if lang == "en":
        text = _DECIMAL_POINT.sub(" point ", text)
        return _ASCII_DIGIT.sub(lambda m: f" {EN_DIGITS[int(m.group())]} ", text)
    return _ASCII_DIGIT.sub(lambda m: ZH_DIGITS[int(m.group())], _DECIMAL_POINT.sub("点", text))


def _is_code(number: str) -> bool:
    if number in CODES or (len(number) >= 2 and len(set(number)) == 1):
        return True
    if re.fullmatch(r"23{2,}", number):
        return True
    return len(number) >= 5 and not re.fullmatch(r"[1-9][0-9]?0+", number)


def _numbers(lang: Language) -> Callable[[re.Match[str]], str]:
    def spoken(match: re.Match[str]) -> str:
        number = match.group(1)
        if lang == "zh" and number == "250":
            return "二百五"
        return spell_digits(number, lang) if _is_code(number) else number

    return spoken


def _wan_qian(lang: Language) -> Callable[[re.Match[str]], str]:
    def spoken(match: re.Match[str]) -> str:
        number, suffix = match.group(1), match.group(2).lower()
        if suffix == "k" and number in ("2", "4", "8"):
            return f"{number}K"
        if lang == "en":
            return f"{number} thousand" if suffix == "k" else match.group(0)
        return f"{number}{'千' if suffix == 'k' else '万'}"

    return spoken


def _dash(match: re.Match[str]) -> str:
    unit = match.group(3)
    return f"{match.group(1)}{'到' if unit else '比'}{match.group(2)}{unit or ''}"


def danmaku_numbers(text: str, lang: Language) -> str:
    """Rewrite chat's number conventions in `text`, read as `lang` (zh or en; others are left alone)."""
    if lang not in ("zh", "en") or not any("0" <= ch <= "9" for ch in text):
        return text
    text = _WAN_QIAN.sub(_wan_qian(lang), text)
    if lang == "zh":
        text = _VERSUS.sub(r"\1V\2", text)
        text = _BIRTH_YEAR.sub(lambda m: spell_digits(m.group(1), "zh"), text)
        text = _YEAR.sub(lambda m: m.group(1) if m.group(1).endswith("00") else spell_digits(m.group(1), "zh"), text)
        text = _FROST.sub(r"零下\1", text)
        text = _DASH.sub(_dash, text)
    text = _NUMBER.sub(_numbers(lang), text)
    return re.sub(r" {2,}", " ", text).strip() if lang == "en" else text
