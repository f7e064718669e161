"""`kbatch demo`'s closing summary: credits written as people write them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from tests.ledger.conftest import new_batch
from worker.cli.demo_cmd import _summary


def test_the_summary_writes_credits_without_trailing_zeros_or_an_exponent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        batch = new_batch(ledger, 3)
        thirty, half, _ = ledger.job_ids(batch.id)
        # The ledger keeps credits with four decimals: 30 comes back as 30.0000.
        ledger.update(thirty, charged_credits=Decimal("30"), charged_units=Decimal("3"))
        ledger.update(half, charged_credits=Decimal("40.5"), charged_units=Decimal("4.05"))
        _summary(ledger, batch.id, credit_usd=Decimal("0.004"))
    finally:
        ledger.close()
    lines = capsys.readouterr().out.splitlines()
    assert "E+" not in "\n".join(lines)
    assert [line.split()[3:5] for line in lines[1:4]] == [
        ["30", "credits"],
        ["40.5", "credits"],
        ["0", "credits"],
    ]
    assert lines[-1] == "charged 70.5 credits (about $0.28) for 7.05 provider units"
