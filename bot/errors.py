"""Errors a user can cause and fix, each rendered as one line without a traceback.

Anything that is the user's doing (a bad config, a missing file, unusable input) raises a
`UserError`; the CLI prints `str(err)` and exits 1. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; its message is one line that names the culprit."""


class ConfigError(UserError):
    """The configuration file is missing, malformed or invalid."""


class VoiceError(UserError):
    """A voice's reference clip or transcript cannot be used."""


class TextError(UserError):
    """A message has nothing speakable in it once cleaned."""


class ModelError(UserError):
    """The model, vocabulary or vocoder files are missing or do not fit the architecture."""


class SynthesisError(Exception):
    """One utterance could not be synthesised (e.g. GPU out of memory); it is dropped, the bot goes on."""
