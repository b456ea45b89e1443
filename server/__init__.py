"""jmdchat: end-to-end-encrypted counselling chat for young migrants."""

__version__ = "0.1.0"
