"""A quote gateway: each request asks a slower service behind it, then shapes the answer."""
