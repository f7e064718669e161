"""kbatch's domain: manifests, job specs, pricing and the results ledger.

Nothing here knows about Celery, Redis or HTTP: `worker` builds on this package, never the reverse.
"""
