"""Danmaku as a Chinese viewer reads them aloud (and English chat as an English speaker would): the
expected spoken forms were written by hand, then the normaliser (danmaku pre-pass + wetext) was made
to match them. The language is chosen as the speech stage chooses it, by the dominant script."""

from __future__ import annotations

import pytest

from bot.speech.language import dominant_language
from bot.speech.normalizer import WetextNormalizer
from bot.speech.prepare import shared_normalizer

TABLE: list[tuple[str, str]] = [
    # chat's numbers that are sounds or codes: digit by digit
    ("666", "六六六"),
    ("6666", "六六六六"),
    ("66", "六六"),
    ("666666", "六六六六六六"),
    ("主播666", "主播六六六"),
    ("666主播太强了", "六六六主播太强了"),
    ("这波操作666，给主播刷10个小心心", "这波操作六六六，给主播刷十个小心心"),
    ("2333", "二三三三"),
    ("233", "二三三"),
    ("23333", "二三三三三"),
    ("哈哈2333", "哈哈二三三三"),
    ("88", "八八"),
    ("主播88", "主播八八"),
    ("88，明天见", "八八，明天见"),
    ("886", "八八六"),
    ("520", "五二零"),
    ("520快乐", "五二零快乐"),
    ("1314", "一三一四"),
    ("5201314", "五二零一三一四"),
    ("5201314主播", "五二零一三一四主播"),
    ("999", "九九九"),
    ("111", "一一一"),
    ("555", "五五五"),
    ("555被虐哭了", "五五五被虐哭了"),
    ("9494", "九四九四"),
    ("7456", "七四五六"),
    ("4396", "四三九六"),
    ("250", "二百五"),
    ("你个250", "你个二百五"),
    ("1v1", "一V一"),
    ("单挑1v1", "单挑一V一"),
    ("5v5", "五V五"),
    ("3v3开黑", "三V三开黑"),
    ("1V1", "一V一"),
    ("扣1", "扣一"),
    ("扣2", "扣二"),
    ("好的2", "好的二"),
    ("1", "一"),
    ("2", "二"),
    ("0", "零"),
    ("10", "十"),
    ("100", "一百"),
    ("1000", "一千"),
    # the same digits as amounts: a unit or measure word follows
    ("88元", "八十八元"),
    ("66块", "六十六块"),
    ("11点", "十一点"),
    ("22岁", "二十二岁"),
    ("1314个", "一千三百一十四个"),
    ("520元", "五百二十元"),
    ("1000个赞", "一千个赞"),
    ("10个", "十个"),
    ("3个人", "三个人"),
    ("2个", "两个"),
    ("一共3个", "一共三个"),
    ("打卡第100天", "打卡第一百天"),
    ("300块的皮肤", "三百块的皮肤"),
    # money
    ("3.5元", "三点五元"),
    ("¥30", "三十元"),
    ("花了¥1299", "花了一千二百九十九元"),
    ("9.9元包邮", "九点九元包邮"),
    ("100块", "一百块"),
    ("5毛", "五毛"),
    ("1块5", "一块五"),
    ("6块6", "六块六"),
    ("50块钱", "五十块钱"),
    ("送了$5", "送了五美元"),
    ("打赏了30元", "打赏了三十元"),
    # percentages, decimals, fractions
    ("100%", "百分之一百"),
    ("50%的概率", "百分之五十的概率"),
    ("99.9%", "百分之九十九点九"),
    ("胜率80%", "胜率百分之八十"),
    ("3.14", "三点一四"),
    ("0.5", "零点五"),
    ("1/3", "三分之一"),
    ("1.5倍速", "一点五倍速"),
    ("1.5倍速看完了", "一点五倍速看完了"),
    # times and dates
    ("10:30", "十点三十分"),
    ("20:00开播", "二十点开播"),
    ("晚上8点", "晚上八点"),
    ("7点半", "七点半"),
    ("12点", "十二点"),
    ("明天9点见", "明天九点见"),
    ("已经7点了", "已经七点了"),
    ("明天晚上8点半直播", "明天晚上八点半直播"),
    ("主播今天3点开播，666", "主播今天三点开播，六六六"),
    ("2026年11月29日", "二零二六年十一月二十九日"),
    ("2025-11-29", "二零二五年十一月二十九日"),
    ("12月25号", "十二月二十五号"),
    ("1949年", "一九四九年"),
    ("2025年最后一场", "二零二五年最后一场"),
    ("2024", "二零二四"),
    ("2024加油", "二零二四加油"),
    ("2000", "两千"),
    ("我98年的", "我九八年的"),
    ("00后", "零零后"),
    ("90后", "九零后"),
    ("95后", "九五后"),
    ("2小时", "两小时"),
    ("打了2小时", "打了两小时"),
    ("我等了2个小时", "我等了两个小时"),
    ("30分钟", "三十分钟"),
    ("等了30分钟", "等了三十分钟"),
    ("3天", "三天"),
    ("离过年还有60天", "离过年还有六十天"),
    # ranks, floors, rounds
    ("第1名", "第一名"),
    ("第3局", "第三局"),
    ("第2局2:1拿下", "第二局二比一拿下"),
    ("前10", "前十"),
    ("3楼", "三楼"),
    ("10楼说得对", "十楼说得对"),
    # scores and ranges
    ("3:2赢了", "三比二赢了"),
    ("2:0", "二比零"),
    ("2-0", "二比零"),
    ("比分1-1", "比分一比一"),
    ("3-5天", "三到五天"),
    ("3~5个", "三到五个"),
    # temperature, lengths, weights
    ("今天30度", "今天三十度"),
    ("气温-5℃", "气温零下五摄氏度"),
    ("30°C", "三十摄氏度"),
    ("10km", "十公里"),
    ("5kg", "五千克"),
    ("1米8", "一米八"),
    ("180cm", "一百八十厘米"),
    ("买了3.5斤苹果", "买了三点五斤苹果"),
    # large numbers and chat's w/k
    ("10w粉丝", "十万粉丝"),
    ("1.5w", "一点五万"),
    ("3k", "三千"),
    ("4k画质", "四K画质"),
    ("10000", "一万"),
    ("粉丝破10000了", "粉丝破一万了"),
    ("100000", "十万"),
    ("1个亿", "一个亿"),
    ("约1.5万人", "约一点五万人"),
    # ids, rooms, phone numbers: digit by digit
    ("房间号12345678", "房间号一二三四五六七八"),
    ("我的uid是12345", "我的uid是一二三四五"),
    ("13800138000", "一三八零零一三八零零零"),
    # symbols the filters already made words
    ("1加1等于2", "一加一等于二"),
    ("加1", "加一"),
    ("99加", "九十九加"),
    # Latin words inside Chinese: left for the model
    ("B站", "B站"),
    ("打call", "打call"),
    ("yyds", "yyds"),
    ("主播xswl", "主播xswl"),
    ("iPhone15多少钱", "iPhone十五多少钱"),
    ("5G网络", "五G网络"),
    ("A4纸", "A四纸"),
    ("今天top3", "今天top三"),
    ("U盘", "U盘"),
    ("主播好厉害，这波操作太秀了！", "主播好厉害，这波操作太秀了！"),
    # English-dominant chat: English words
    ("GG wp 666", "GG wp six six six"),
    ("hello from Berlin, first time here", "hello from Berlin, first time here"),
    ("I paid $5 for 2 cats at 10:30", "I paid five dollars for two cats at ten thirty"),
    ("1v1 me", "one v one me"),
    ("10k followers", "ten thousand followers"),
    ("gg 88", "gg eight eight"),
    ("it's 2026", "it's twenty twenty six"),
    ("100% agree", "one hundred percent agree"),
    ("3.5 stars", "three point five stars"),
    ("2nd place", "second place"),
    ("520 love you", "five two zero love you"),
    ("see you at 8", "see you at eight"),
    ("top 3", "top three"),
    ("666, nice", "six six six, nice"),
]


@pytest.fixture(scope="module")
def normalizer() -> WetextNormalizer:
    return shared_normalizer()


def spoken(normalizer: WetextNormalizer, text: str) -> str:
    return normalizer.normalize(text, dominant_language(text) or "zh")


def test_the_table_is_big_enough_and_unique() -> None:
    assert len(TABLE) >= 150
    assert len({text for text, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_spoken_form(normalizer: WetextNormalizer, text: str, expected: str) -> None:
    assert spoken(normalizer, text) == expected


HOSTILE = [
    "1" * 4000,
    "1.2." * 1000,
    "3.5元 " * 500,
    "12345678901234567890" * 20,
    "1e400",
    "-" * 100 + "1",
    "١٢٣",  # Arabic-Indic digits: not ours to read, left as they are
    "\ud800 1 \udfff",
    "$$$$1%%%%",
    "1:2:3:4:5:6:7:8:9",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_never_raises_and_stays_bounded(normalizer: WetextNormalizer, text: str) -> None:
    for lang in ("zh", "en", "ja", "ko"):
        out = normalizer.normalize(text, lang)  # type: ignore[arg-type]
        assert isinstance(out, str)
        assert len(out) <= 8 * len(text) + 16


def test_digits_past_the_segment_budget_are_read_one_by_one(normalizer: WetextNormalizer) -> None:
    out = normalizer.normalize("3.5元，" * 10, "zh")
    assert out.count("三点五元") == 10
    assert not any("0" <= ch <= "9" for ch in out)


def test_the_grammars_load_and_run_with_no_network() -> None:
    """Everything wetext needs is in its wheel: nothing is downloaded at run time."""
    import subprocess
    import sys

    probe = (
        "import socket\n"
        "def deny(*a, **k): raise OSError('no network')\n"
        "socket.socket.connect = socket.create_connection = socket.getaddrinfo = deny\n"
        "from bot.speech.normalizer import WetextNormalizer\n"
        "print(WetextNormalizer().normalize('花了¥1299，10:30见', 'zh'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "花了一千二百九十九元，十点三十分见"
