"""What listeners hear: a message's text turned into what a speaker of its language would say aloud
(danmaku numbers, money, dates, emoji), the voice for its language, and a bound on how long it may sound.

Runs after the filters (bot/filters.py) and before the engine; see bot/speech/prepare.py for the stage.
"""
