"""Speech discarded (or played to a sound card nobody hears)."""
