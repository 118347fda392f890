"""Authentication: AWS SigV4 (header and presigned), aws-chunked payloads, credentials.

    verify_request(request, credentials, settings) -> VerifiedRequest    (server side)
    sign_request(...) / presign_url(...)                                 (client side)
"""

from .credentials import CredentialStore, Credentials
from .signer import presign_url, sign_request
from .verify import VerifiedRequest, verify_request

__all__ = ["CredentialStore", "Credentials", "VerifiedRequest", "presign_url", "sign_request", "verify_request"]
