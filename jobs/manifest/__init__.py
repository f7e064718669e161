"""Manifests: YAML or CSV files listing the videos of a batch, read into checked jobs.

    from jobs.manifest import load_manifest, ManifestError
    manifest = load_manifest(Path("manifests/examples/demo.yaml"), overrides={"resolution": "720p"})
    for job in manifest.jobs: ...

The language itself is documented in manifests/README.md.
"""

from jobs.manifest.errors import Issue, ManifestError
from jobs.manifest.fields import FIELDS, parse_scalar
from jobs.manifest.limits import DEFAULT_MAX_BYTES, Limits
from jobs.manifest.loader import Manifest, load_manifest

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FIELDS",
    "Issue",
    "Limits",
    "Manifest",
    "ManifestError",
    "load_manifest",
    "parse_scalar",
]
