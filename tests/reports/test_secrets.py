"""No report, in any format, shows a secret: not the S3 secret key, nor the provider's API key."""

from __future__ import annotations

import pytest

from tests.reports.conftest import API_KEY, S3_ACCESS_KEY_ID, S3_SECRET, Kbatch, Rendered

COMMANDS = [
    ("jobs", "reports-batch"),
    ("jobs", "reports-batch", "-f", "csv"),
    ("jobs", "reports-batch", "-f", "json"),
    ("report", "reports-batch"),
    ("report", "reports-batch", "-f", "csv"),
    ("report", "reports-batch", "-f", "json"),
    ("report", "reports-batch", "-f", "html"),
    ("credits", "--by", "batch"),
    ("credits", "--by", "day", "-f", "json"),
    ("report", "no-such-batch", "-f", "html"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_secret_in_any_output(s3_batch: Rendered, kbatch: Kbatch, args: tuple[str, ...]) -> None:
    env = s3_batch.env | {"KBATCH_PROVIDER__API_KEY": API_KEY}
    result = kbatch(*args, env=env)
    assert result.exit_code in (0, 2), result.output
    assert result.output
    for secret in (S3_SECRET, API_KEY):
        assert secret not in result.output
    if args[-1] == "html":
        # Presigned links name the access key id; that is not a secret, and the docs say so.
        assert (S3_ACCESS_KEY_ID in result.output) is (result.exit_code == 0)
