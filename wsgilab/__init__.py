"""wsgilab: orchestration, measurement and reports of the Python WSGI concurrency lab."""
