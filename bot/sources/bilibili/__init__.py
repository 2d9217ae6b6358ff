"""A Bilibili live room's chat."""
