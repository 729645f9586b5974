"""Huying's outer interfaces: the HTTP API (litestar) and the ``huying`` command line."""
