"""End-to-end tests: real S3 clients against real engine processes over loopback.

The shared server (``engine`` in ``tests/conftest.py``) serves the client suites; crash, heal, fuzz
and memory tests start dedicated servers on their own drives (``make_engine``/``engine_factory``).

    test_boto3.py        boto3 defaults over http (CRC32 header) and the engine's own https (CRC32 trailer)
    test_awscli.py       aws s3 cp/sync/ls/mv, s3api (AWS CLI v1 from the venv)
    test_minio.py        minio-py: fput_object, ranged get_object, compose, listing, stat
    test_s3fs.py         s3fs: block-wise multipart writes, ranged cat_file, ls, rm
    test_rclone.py       rclone: copy, lsl, check, cat --offset/--count, sync, purge
    test_s3cmd.py        s3cmd: put (multipart), get, ls, del, mb/rb (ranges through boto3)
    test_streaming.py    hand-built aws-chunked bodies: signed, signed-trailer, unsigned-trailer
    test_concurrency.py  racing PUTs/completes/conditional creates, torn reads; 1 and 2 workers
    test_crash.py        SIGKILL during concurrent PUTs, every acknowledged write survives
    test_heal.py         bitrot and lost drives up to parity, ``python -m storage_engine heal``
    test_fuzz.py         hypothesis over raw sockets: no 5xx, no hang, still healthy
    test_memory.py       server RSS under 300 MiB during 16 x 1 GiB and 5 GiB PUTs (``heavy``)
    test_distributed.py  the component's 4 x 2 tenant as pods (netns, root): node loss, heal, locks

Run them alone with ``scripts/test tests/e2e``; ``-m "not heavy"`` skips the gigabyte uploads. To test
a snapshot of the engine rather than the working tree, put it first on PYTHONPATH: the servers
inherit it (``git archive HEAD storage_engine | tar -x -C /tmp/snap; PYTHONPATH=/tmp/snap ...``).
"""
