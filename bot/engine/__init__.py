"""The F5-TTS engine. Everything here runs in the GPU worker thread, which alone owns torch state."""
