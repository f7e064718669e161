"""How kbatch's work runs: settings, the Celery app and tasks, throttling, provider clients,
storage, the CLI and the local Kling simulator. Builds on `jobs`; `jobs` never imports from here.
"""
