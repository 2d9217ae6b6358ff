"""Chat typed on stdin."""
