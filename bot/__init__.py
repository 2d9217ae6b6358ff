"""iShowTTS bot: reads a livestream's chat aloud in a cloned voice."""

__version__ = "0.1.0"
