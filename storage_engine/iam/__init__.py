"""Identity and access (issue 11): IAM policy documents and their evaluation, the S3 actions of each endpoint.

See docs/iam.md for how the pieces fit: ``policy`` (parse, validate, evaluate), ``conditions`` (operators),
``actions`` (Endpoint -> action names, resource ARNs), ``ldap`` and ``oidc`` (identity providers).
"""
