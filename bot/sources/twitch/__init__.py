"""A Twitch channel's chat."""
