"""The sound card, through PortAudio."""
