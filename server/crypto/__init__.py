"""jmdchat end-to-end encryption protocol, version 1 (see docs/protocol.md).

Import the public API from :mod:`server.crypto.protocol`. The submodules are ``encoding``
(base64url and deterministic binary structures), ``primitives`` (thin wrappers over
``cryptography``), ``errors`` (typed errors with stable codes shared with the browser
implementation), ``keys`` (password, recovery code, identity key blobs, key ids, fingerprints),
``certificates``, ``sites`` and ``conversation`` (key shares and message envelopes).
``passwords`` and ``tokens`` belong to the accounts service, not to this protocol.
"""
