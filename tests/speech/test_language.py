from __future__ import annotations

import pytest

from bot.speech.language import dominant_language, english_syllables, syllable_count


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("hello from Berlin, first time here", "en"),
        ("主播好厉害，这波操作太秀了！", "zh"),
        ("GG wp 666", "en"),
        ("主播好厉害 nice", "zh"),
        ("今天的 boss 战太难了 lol", "zh"),
        ("{uname}的醒目留言：hello from Berlin, first time here", "en"),
        ("こんにちは、配信見てます", "ja"),
        ("日本語の漢字", "ja"),  # Han with kana is Japanese
        ("안녕하세요", "ko"),
        ("666", None),  # digits alone: keep the voice
        ("1v1", None),  # letters glued to a number are a unit, not English
        ("10km", None),
        ("30°C", None),
        ("！？。", None),
        ("", None),
        ("好 ok", None),  # a tie
    ],
)
def test_dominant_language(text: str, lang: str | None) -> None:
    assert dominant_language(text) == lang


@pytest.mark.parametrize(
    ("word", "n"), [("nature", 2), ("call", 1), ("mother", 2), ("others", 2), ("Hi", 1), ("GG", 2), ("wp", 2)]
)
def test_english_syllables(word: str, n: int) -> None:
    assert english_syllables(word) == n


def test_syllable_count_of_the_bundled_transcripts() -> None:
    assert syllable_count("对，这就是我，万人敬仰的太乙真人。") == 14
    assert syllable_count("Some call me nature, others call me mother nature.") == 13
    assert syllable_count("Hi.") == 1
    assert syllable_count("我有3只猫") == 5
