"""Utterances recorded into WAV files."""
