"""A real Redis (Debian's redis-server) on a loopback port, started and stopped by the caller: the store that
`fivewhys serve` replicas share. Without the binary the tests skip, or fail under FIVEWHYS_REQUIRE_SERVERS=1."""
from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from conftest import free_ports, need_binary, stop


@contextmanager
def redis_server(workdir: Path, timeout_s: float = 30) -> Iterator[str]:
    """Yields redis://127.0.0.1:PORT/0 once the server answers PING; stops it when the block ends."""
    import redis
    binary = need_binary("redis-server")
    [port] = free_ports(1)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"
    # no snapshots, no AOF: the data lives as long as the test; --dir keeps anything it writes out of the clone
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--logfile", str(log)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except (redis.RedisError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-800:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start (exit {proc.poll()}): {tail}")
            time.sleep(0.1)
        yield url
    finally:
        stop(proc)
