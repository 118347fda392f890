"""The S3 API: HTTP requests in, object-layer calls, S3 responses out.

    app.py          S3App: route -> authenticate (auth.verify_request) -> authorize -> handler; errors as XML
    router.py       Endpoint enum (every S3 operation), path- and virtual-hosted-style resolution
    policy.py       authorize(identity, endpoint, bucket, key): the single access decision
    names.py        bucket and key validation at the edge
    context.py      ReqCtx handed to every handler, response helpers
    xml.py          response rendering (string building) and safe request parsing (expat, no DOCTYPE)
    conditions.py   conditional requests and byte ranges
    meta.py         request headers -> PutOptions, ObjectInfo -> response headers, tags
    body.py         small request bodies, and StreamBody (a PutBody over a reader, for copies)
    bucket.py object.py copy.py delete.py listing.py multipart.py tagging.py unconfigured.py admin.py
                    handlers, one module per operation family

Nothing under ``objects/``, ``erasure/`` or ``drives/`` imports this package.
"""
