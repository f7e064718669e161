"""kbatch on a Redis that wants a password, and on one that speaks only TLS (`rediss://`).

Workers, the submit command and resume all reach Redis through the URL alone; with TLS, the
server's certificate is verified against a CA the processes trust (`SSL_CERT_FILE`), as a managed
Redis's would be against the system's. A wrong password is refused without showing it, and
before anything is recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import JobState
from tests.reliability.redis_server import RedisServer, make_tls
from tests.reliability.runs import check_ended, kbatch, submit, wait_final, write_manifest
from worker.stack import local_stack

pytestmark = pytest.mark.slow

PASSWORD = "urltestpw4c1d9e"
JOBS = 4
SIM = ("--time-scale", "0.01", "--median-seconds", "60", "--seed", "91")
ENV = {
    "KBATCH_POLL__DEFAULT_EXPECTED_S": "0.6",
    "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
    "KBATCH_TASK_EVENTS": "false",
}


@pytest.mark.parametrize("tls", [False, True], ids=["password", "tls and password"])
def test_a_batch_runs_through_a_protected_redis(tmp_path: Path, tls: bool) -> None:
    certs = make_tls(tmp_path / "tls") if tls else None
    env = {**ENV, "SSL_CERT_FILE": str(certs.ca)} if certs else dict(ENV)
    with (
        RedisServer(tmp_path, password=PASSWORD, tls=certs) as server,
        local_stack(tmp_path / "stack", sim_args=SIM, redis_url=server.url, extra_env=env) as stack,
    ):
        assert stack.redis_url.startswith("rediss://" if tls else "redis://:")
        with Ledger.open(stack.env["KBATCH_DATABASE_URL"]) as ledger:
            batch_id = submit(stack.env, write_manifest(tmp_path, JOBS, "protected"))
            wait_final(ledger, batch_id, timeout=60)
            assert check_ended(ledger, batch_id, JOBS) == {JobState.STORED: JOBS}
        resumed = kbatch(stack.env, "resume", str(batch_id))
        assert "0 waiting" in resumed.stdout
        client = server.client()
        try:
            assert client.dbsize() > 0  # the slots, wait list and timings really live there
        finally:
            client.close()

        wrong = {**stack.env, "KBATCH_REDIS_URL": server.url.replace(PASSWORD, "not-the-pw")}
        refused = kbatch(wrong, "submit", str(write_manifest(tmp_path, 1, "wrong")), check=False)
        assert refused.returncode != 0
        assert "not-the-pw" not in refused.stdout + refused.stderr
        assert PASSWORD not in refused.stdout + refused.stderr
        with Ledger.open(stack.env["KBATCH_DATABASE_URL"]) as ledger:
            assert [b.id for b in ledger.batches()] == [batch_id]  # nothing half-started
