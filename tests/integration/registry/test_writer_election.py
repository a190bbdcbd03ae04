"""Several registry processes on one ``_schemas`` topic: one writer, fenced, and crashes.

The invariant under test is the one clients depend on: an id, once acknowledged, means
one schema forever, on every instance, whatever happened to the writer in between.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.instances import RegistryProcess, start_process, status, wait_for

#: Generous: a crashed writer is replaced after the group's session timeout (10 s), and
#: the machine may be busy with other test runs.
SLOW = ("--forward-timeout", "90")


def schema(tag: str) -> str:
    return f'{{"type":"record","name":"R_{tag}","fields":[{{"name":"f","type":"long"}}]}}'


@pytest.fixture
def topic() -> str:
    return f"_schemas-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def processes() -> Iterator[list[RegistryProcess]]:
    started: list[RegistryProcess] = []
    yield started
    for proc in started:
        proc.kill()


def elected(instances: list[RegistryProcess]) -> RegistryProcess:
    """The writer, once every live instance agrees on it."""
    live = [i for i in instances if i.alive()]

    def agreed() -> bool:
        seen = [status(i.url) for i in live]
        writers = [s for s in seen if s and s["is_writer"]]
        return len(writers) == 1 and all(s and s["writer"] == writers[0]["instance"] for s in seen)

    wait_for(agreed, timeout_s=120, what="one writer that every instance knows")
    url = next(s["instance"] for i in live if (s := status(i.url)) and s["is_writer"])
    return next(i for i in live if i.url == url)


def state_of(url: str) -> dict[str, tuple[list[int], int]]:
    """subject -> (versions, id of the latest version), as one instance serves it."""
    with httpx.Client(base_url=url, timeout=30) as http:
        subjects = http.get("/subjects").json()
        return {
            s: (
                http.get(f"/subjects/{s}/versions").json(),
                http.get(f"/subjects/{s}/versions/latest").json()["id"],
            )
            for s in subjects
        }


def test_two_instances_keep_ids_unique_while_the_writer_is_killed(
    cluster1: LocalCluster, topic: str, tmp_path: Path, processes: list[RegistryProcess]
) -> None:
    ports = [next_http_port(), next_http_port()]
    for port in ports:
        processes.append(
            start_process(cluster1, topic=topic, port=port, workdir=tmp_path, extra=SLOW)
        )
    writer = elected(processes)
    threads, per_thread = 4, 30
    kill_at = threads * per_thread // 3
    acked: dict[str, int] = {}
    failed: list[str] = []
    counter = itertools.count(1)
    lock = threading.Lock()

    def client(t: int) -> None:
        with httpx.Client(timeout=120) as http:
            for n in range(per_thread):
                # Interleave: alternate instances, skipping one that is dead.
                live = [p for p in processes if p.alive()]
                target = live[(t + n) % len(live)]
                subject = f"t{t}-n{n}-value"
                try:
                    answer = http.post(
                        f"{target.url}/subjects/{subject}/versions",
                        json={"schema": schema(f"{t}_{n}")},
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        failed.append(f"{subject} via {target.url}: {exc!r}")
                    continue
                with lock:
                    if answer.status_code == 200:
                        acked[subject] = answer.json()["id"]
                    else:
                        failed.append(f"{subject} via {target.url}: {answer.text}")
                if next(counter) == kill_at:
                    writer.kill()

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(600)
    assert not writer.alive(), "the writer was not killed: the test did not test a change"
    # Only requests caught by the kill may fail: one in flight per thread, and one sent
    # while the kill was under way.
    assert len(failed) <= 2 * threads, failed
    assert len(set(acked.values())) == len(acked), "an id was handed out twice"

    # The killed instance comes back on its port and replays to the same state.
    processes.remove(writer)
    processes.append(
        start_process(cluster1, topic=topic, port=int(writer.url.rsplit(":", 1)[1]),
                      workdir=tmp_path / "restarted", extra=SLOW)
    )  # fmt: skip
    survivor = elected(processes)
    assert survivor.url != writer.url, "the writer role should have moved to the survivor"
    states = [state_of(p.url) for p in processes]
    assert states[0] == states[1], "the two instances disagree"
    for subject, schema_id in acked.items():
        assert states[0][subject] == ([1], schema_id), subject
    every_id = [schema_id for _, schema_id in states[0].values()]
    assert len(every_id) == len(set(every_id)), "two subjects with different schemas share an id"


def test_a_registry_killed_during_a_burst_restarts_with_every_acknowledged_id(
    cluster1: LocalCluster, topic: str, tmp_path: Path, processes: list[RegistryProcess]
) -> None:
    port = next_http_port()
    registry = start_process(cluster1, topic=topic, port=port, workdir=tmp_path, extra=SLOW)
    processes.append(registry)
    elected(processes)
    acked: dict[str, int] = {}
    attempted: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(t: int) -> None:
        with httpx.Client(base_url=registry.url, timeout=60) as http:
            for n in itertools.count():
                subject = f"burst-{t}-{n}-value"
                with lock:
                    attempted.append(subject)
                try:
                    answer = http.post(
                        f"/subjects/{subject}/versions", json={"schema": schema(f"b{t}_{n}")}
                    )
                except httpx.HTTPError:
                    return  # the registry is gone
                if answer.status_code == 200:
                    with lock:
                        acked[subject] = answer.json()["id"]
                        if len(acked) >= 60:
                            enough.set()

    workers = [threading.Thread(target=client, args=(t,)) for t in range(4)]
    for worker in workers:
        worker.start()
    assert enough.wait(300), "the burst did not get going"
    registry.kill()  # mid-burst: requests in flight, possibly an open transaction
    for worker in workers:
        worker.join(120)

    processes.remove(registry)
    again = start_process(
        cluster1, topic=topic, port=port, workdir=tmp_path / "restarted", extra=SLOW
    )
    processes.append(again)
    stored = state_of(again.url)
    for subject, schema_id in acked.items():
        assert stored[subject] == ([1], schema_id), subject
    ids = [schema_id for _, schema_id in stored.values()]
    assert len(ids) == len(set(ids)), "an id was used twice"
    # Every schema of the burst, acknowledged or not, registers again as what is stored
    # (waiting for the restarted instance to be elected, as clients would).
    with httpx.Client(base_url=again.url, timeout=120) as http:
        for subject in attempted:
            t, n = subject.split("-")[1:3]
            answer = http.post(
                f"/subjects/{subject}/versions", json={"schema": schema(f"b{t}_{n}")}
            )
            assert answer.status_code == 200, answer.text
            if subject in stored:
                assert answer.json()["id"] == stored[subject][1], subject
        ids = [schema_id for _, schema_id in state_of(again.url).values()]
        assert len(ids) == len(set(ids)), "re-registration handed out a used id"
