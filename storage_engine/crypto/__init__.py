"""Encryption at rest (docs/encryption.md; the on-disk format is FORMAT.md, normative).

``packages`` (AEAD package streams), ``keys`` (object keys, part keys, ETag MAC) and ``envelope`` (what a
version persists) are pure and do no I/O; ``sse`` and ``kms`` talk to the KMS.
"""
