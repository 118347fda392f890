"""S3 errors: one class per AWS error code, each with its HTTP status.

Every layer raises these; only the HTTP layer turns them into XML (``api.xml.error_body``).

    S3Error                     code, status, message, extra response headers
     |-- AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, ...      (auth, 4xx)
     |-- NoSuchBucket, NoSuchKey, NoSuchVersion, NoSuchUpload, ...        (lookups, 404)
     |-- BucketNotEmpty, BucketAlreadyOwnedByYou, ...                     (conflicts, 409)
     |-- InvalidArgument, InvalidRange, MalformedXML, BadDigest, ...      (bad input, 400/416)
     |-- PreconditionFailed (412), NotModified (304)                      (conditional requests)
     |-- SseCustomerKeyRequired (400 InvalidRequest), KMSNotFound (400)   (server-side encryption)
     '-- InternalError, SlowDown, ServiceUnavailable, KMSUnavailable (5xx) (our side; never for bad input)
         StorageFull (507 XMinioStorageFull: the drives are full)

Raise with a message for the client: ``raise NoSuchKey()`` or ``raise InvalidArgument("bad x-amz-foo")``.
"""

from __future__ import annotations

from typing import ClassVar


class S3Error(Exception):
    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None,
                 resource: str | None = None) -> None:
        self.message = message or self.default_message
        # Extra response headers, e.g. x-amz-delete-marker on a 404 for a delete marker.
        self.headers: dict[str, str] = dict(headers or {})
        self.resource = resource
        super().__init__(f"{self.code}: {self.message}")


def _error(code: str, status: int, message: str, *, name: str | None = None,
           base: type[S3Error] = S3Error) -> type[S3Error]:
    cls = type(name or code, (base,), {"code": code, "status": status, "default_message": message})
    cls.__module__ = __name__
    return cls


# --- authentication and authorization -------------------------------------------------------------
AccessDenied = _error("AccessDenied", 403, "Access Denied.")
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch", 403,
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.")
InvalidAccessKeyId = _error(
    "InvalidAccessKeyId", 403, "The Access Key Id you provided does not exist in our records.")
RequestTimeTooSkewed = _error(
    "RequestTimeTooSkewed", 403,
    "The difference between the request time and the server's time is too large.")
ExpiredToken = _error("ExpiredToken", 400, "The provided token has expired.")
InvalidToken = _error("InvalidToken", 400, "The provided token is malformed or otherwise invalid.")
AuthorizationHeaderMalformed = _error(
    "AuthorizationHeaderMalformed", 400, "The authorization header is malformed.")
AuthorizationQueryParametersError = _error(
    "AuthorizationQueryParametersError", 400,
    "Error parsing the X-Amz-Credential parameter or the query-string authentication parameters.")
MissingSecurityHeader = _error("MissingSecurityHeader", 400, "Your request is missing a required header.")
XAmzContentSHA256Mismatch = _error(
    "XAmzContentSHA256Mismatch", 400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request.")
NotImplementedError_ = _error("NotImplemented", 501, "A header or query you provided implies functionality that is not implemented.")

# --- lookups --------------------------------------------------------------------------------------
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist.")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchVersion = _error("NoSuchVersion", 404, "The specified version does not exist.")
NoSuchUpload = _error(
    "NoSuchUpload", 404,
    "The specified multipart upload does not exist. The upload ID may be invalid, "
    "or the upload may have been aborted or completed.")
NoSuchTagSet = _error("NoSuchTagSet", 404, "The TagSet does not exist.")
MethodNotAllowed = _error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
# Bucket configurations that were never set (the Get* of an unconfigured sub-resource).
NoSuchBucketPolicy = _error("NoSuchBucketPolicy", 404, "The bucket policy does not exist.")
MalformedPolicy = _error("MalformedPolicy", 400, "Policies must be valid JSON and the first byte must be '{'")
NoSuchCORSConfiguration = _error("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist.")
NoSuchLifecycleConfiguration = _error("NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist.")
NoSuchWebsiteConfiguration = _error(
    "NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration.")
NoSuchPublicAccessBlockConfiguration = _error(
    "NoSuchPublicAccessBlockConfiguration", 404, "The public access block configuration was not found.")
ServerSideEncryptionConfigurationNotFoundError = _error(
    "ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found.")
ReplicationConfigurationNotFoundError = _error(
    "ReplicationConfigurationNotFoundError", 404, "The replication configuration was not found.")
ObjectLockConfigurationNotFoundError = _error(
    "ObjectLockConfigurationNotFoundError", 404, "Object Lock configuration does not exist for this bucket.")
NoSuchObjectLockConfiguration = _error(
    "NoSuchObjectLockConfiguration", 404, "The specified object does not have a ObjectLock configuration")
OwnershipControlsNotFoundError = _error(
    "OwnershipControlsNotFoundError", 404, "The bucket ownership controls were not found.")

# --- conflicts ------------------------------------------------------------------------------------
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty.")
BucketAlreadyOwnedByYou = _error(
    "BucketAlreadyOwnedByYou", 409,
    "Your previous request to create the named bucket succeeded and you already own it.")
BucketAlreadyExists = _error(
    "BucketAlreadyExists", 409, "The requested bucket name is not available.")
OperationAborted = _error(
    "OperationAborted", 409, "A conflicting conditional operation is currently in progress against this resource.")
ConditionalRequestConflict = _error(
    "ConditionalRequestConflict", 409, "A conflicting operation occurred. Retry the request.")

# --- bad input ------------------------------------------------------------------------------------
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument.")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long.")
InvalidObjectName = _error("InvalidObjectName", 400, "Object name contains unsupported characters.")
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable.")
InvalidPart = _error(
    "InvalidPart", 400,
    "One or more of the specified parts could not be found. The part may not have been uploaded, "
    "or the specified entity tag may not match the part's entity tag.")
InvalidPartOrder = _error(
    "InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number.")
EntityTooSmall = _error("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.")
EntityTooLarge = _error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
# Browser uploads (POST Object, api/post_object.py).
InvalidPolicyDocument = _error(
    "InvalidPolicyDocument", 400,
    "The content of the form does not meet the conditions specified in the policy document.")
MalformedPOSTRequest = _error(
    "MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data.")
MaxPostPreDataLengthExceeded = _error(
    "MaxPostPreDataLengthExceededError", 400,
    "Your POST request fields preceding the upload file were too large.", name="MaxPostPreDataLengthExceeded")
IncorrectNumberOfFilesInPostRequest = _error(
    "IncorrectNumberOfFilesInPostRequest", 400, "POST requires exactly one file upload per request.")
IncompleteBody = _error(
    "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
MissingContentLength = _error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
BadDigest = _error("BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 or checksum you specified is not valid.")
MalformedXML = _error(
    "MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
InvalidTag = _error("InvalidTag", 400, "The tag provided was not a valid tag.")
MetadataTooLarge = _error("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.")
InvalidStorageClass = _error("InvalidStorageClass", 400, "The storage class you specified is not valid.")
IllegalVersioningConfigurationException = _error(
    "IllegalVersioningConfigurationException", 400,
    "The versioning configuration specified in the request is invalid.")
InvalidBucketState = _error("InvalidBucketState", 409, "The request is not valid with the current state of the bucket.")
RequestTimeout = _error(
    "RequestTimeout", 400,
    "Your socket connection to the server was not read from or written to within the timeout period.")
InvalidURI = _error("InvalidURI", 400, "Couldn't parse the specified URI.")
MaxMessageLengthExceeded = _error("MaxMessageLengthExceeded", 400, "Your request was too big.")
UnexpectedContent = _error("UnexpectedContent", 400, "This request does not support content.")
InvalidPartNumber = _error("InvalidPartNumber", 400, "The requested partnumber is not satisfiable.")
IllegalLocationConstraintException = _error(
    "IllegalLocationConstraintException", 400,
    "The specified location-constraint is not valid for this server's region.")
# ACLs and ownership controls (api/acl.py, api/ownership.py; docs/iam.md "ACLs and owners").
AccessControlListNotSupported = _error("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")
InvalidBucketAclWithObjectOwnership = _error(
    "InvalidBucketAclWithObjectOwnership", 400,
    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
UnresolvableGrantByEmailAddress = _error(
    "UnresolvableGrantByEmailAddress", 400,
    "The e-mail address you provided does not match any account on record.")
MalformedACLError = _error(
    "MalformedACLError", 400,
    "The XML you provided was not well-formed or did not validate against our published schema")

# RestoreObject of a version that is not on a tier (AWS: not in an archive storage class).
InvalidObjectState = _error("InvalidObjectState", 403, "The operation is not valid for the object's storage class.")

# --- conditional requests -------------------------------------------------------------------------
PreconditionFailed = _error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold.")
NotModified = _error("NotModified", 304, "Not Modified.")

# --- our side -------------------------------------------------------------------------------------
InternalError = _error("InternalError", 500, "We encountered an internal error. Please try again.")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")
ServiceUnavailable = _error("ServiceUnavailable", 503, "The service is unavailable. Please retry.")
# Fewer drives answered than the quorum needs: the data may exist but cannot be served safely now.
InsufficientReadQuorum = _error("InsufficientReadQuorum", 503, "Storage resources are insufficient for the read operation.")
InsufficientWriteQuorum = _error("InsufficientWriteQuorum", 503, "Storage resources are insufficient for the write operation.")
# The write lost its quorum because drives are full: MinIO's code and 507, not a retryable 503.
StorageFull = _error("XMinioStorageFull", 507, "Storage backend has reached its minimum free drive threshold. "
                     "Please delete a few objects to proceed.", name="StorageFull")

# --- server-side encryption (docs/encryption.md "S3 errors") --------------------------------------
# The KMS is unreachable, timed out, or answered 5xx after the retries: encrypted PUTs and GETs fail closed.
KMSUnavailable = _error("KMSUnavailable", 503, "The KMS is unavailable. Please retry.")
# An SSE-KMS key id the KMS does not have (AWS's code, dot included).
KMSNotFound = _error("KMS.NotFoundException", 400, "The specified KMS key does not exist.", name="KMSNotFound")
# A GET/HEAD of an SSE-C object without the customer-key headers: AWS answers 400 InvalidRequest.
SseCustomerKeyRequired = _error(
    "InvalidRequest", 400,
    "The object was stored using a form of Server Side Encryption. "
    "The correct parameters must be provided to retrieve the object.",
    name="SseCustomerKeyRequired", base=InvalidRequest)
# SSE-C headers over plain HTTP (unless settings.sse_c_allow_insecure).
SseCustomerKeyInsecure = _error(
    "InvalidRequest", 400,
    "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
    name="SseCustomerKeyInsecure", base=InvalidRequest)

# --- CORS (api/cors.py): a preflight the bucket's rules refuse, or one missing its headers ----------------
CorsForbidden = _error("AccessForbidden", 403, "CORSResponse: CORS is not enabled for this bucket.",
                       name="CorsForbidden")
CorsBadRequest = _error("BadRequest", 400, "Insufficient information. Origin request header needed.",
                        name="CorsBadRequest")
