"""Console figures at 10,000 topics.

- the topics page (its first 100 rows of 10,000, as the super user; and a tenant's 1,000
  of the 10,000), served over HTTP and loaded in a real browser (Debian's chromium via
  Playwright: navigation start to the load event): goal under 1 s; baseline: a bare
  Metadata request for every topic (``list_topics``), what any topics page must at least
  read, made from this process with confluent-kafka;
- the console's resident memory with 10,000 topics, against the same process's on the
  empty cluster just before the topics were created;
- one background read of the cluster (layouts, groups, ACLs, brokers) at 10,000 topics.

Run: .venv/bin/python benchmarks/bench_console.py [--topics 10000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from _estate import write_estate
from _harness import PORT_OFFSET, report, scratch_cluster
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.console.estate import EstateCache
from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import ConsoleProcess

TENANTS = 10
VIEWER = "tenant000-d0-app000"
VIEWER_PASSWORD = "bench-viewer-password"


def timed(fn: object, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        found.append(time.perf_counter() - started)
    return found


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} ms"


def create_topics(admin: AdminClient, names: list[str]) -> None:
    for start in range(0, len(names), 500):
        batch = [NewTopic(n, 1, 1) for n in names[start : start + 500]]
        for future in admin.create_topics(batch, operation_timeout=120).values():
            future.result()


def browser_load_ms(url: str, auth: tuple[str, str], runs: int) -> list[float] | None:
    """Navigation start to load event of the topics page in headless chromium."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update"]  # fmt: skip
    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_context().new_page()
        page.goto(f"{url}/login?next=/topics")
        page.get_by_label("Principal", exact=True).fill(auth[0])
        page.get_by_label("Password (its SCRAM credential)").fill(auth[1])
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url("**/topics")
        for _ in range(runs):
            page.goto(f"{url}/topics", wait_until="load")
            timing = page.evaluate(
                "() => { const t = performance.getEntriesByType('navigation')[0];"
                " return t.loadEventEnd - t.startTime; }"
            )
            found.append(float(timing) / 1000)
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    per_domain = args.topics // (TENANTS * 2)
    root = Path(tempfile.mkdtemp(prefix="sp-bench-console-spec-"))
    write_estate(root, tenants=TENANTS, domains=2, topics=per_domain, apps=2)
    names = [
        f"tenant{t:03d}.domain{d}.topic-{i:05d}"
        for t in range(TENANTS)
        for d in range(2)
        for i in range(per_domain)
    ]
    with scratch_cluster("console", nodes=1) as cluster:
        settings = cluster.admin_settings()
        ClusterAdmin(settings).upsert_scram({VIEWER: VIEWER_PASSWORD})
        creds = cluster.dir.read_credentials()
        assert creds is not None
        admin_auth = ("admin", creds.admin_password)
        console = ConsoleProcess(cluster.dir, port_offset=PORT_OFFSET)
        console.start(root, refresh_s=2.0)
        try:
            process = console.process()
            assert process is not None
            time.sleep(3)
            empty_rss = psutil.Process(process.pid).memory_info().rss
            started = time.perf_counter()
            create_topics(AdminClient(settings.librdkafka()), names)
            created_s = time.perf_counter() - started
            with httpx.Client(base_url=console.url, auth=admin_auth, timeout=60) as client:
                deadline = time.monotonic() + 120
                while client.get("/api/v1/topics", params={"size": 1}).json()["total"] < len(names):
                    assert time.monotonic() < deadline, "the console never saw every topic"
                    time.sleep(1)
                admin = AdminClient(settings.librdkafka())
                bare = timed(lambda: admin.list_topics(timeout=60), args.runs)
                page = timed(lambda: client.get("/topics").raise_for_status(), args.runs)
                found = timed(
                    lambda: client.get("/topics", params={"q": "topic-0042"}).raise_for_status(),
                    args.runs,
                )
                rows = client.get("/api/v1/topics", params={"size": 1}).json()["total"]
            with httpx.Client(
                base_url=console.url, auth=(VIEWER, VIEWER_PASSWORD), timeout=60
            ) as viewer:
                tenant_page = timed(lambda: viewer.get("/topics").raise_for_status(), args.runs)
                visible = viewer.get("/api/v1/topics", params={"size": 1}).json()["total"]
            in_browser = browser_load_ms(console.url, admin_auth, max(5, args.runs // 3))
            full_rss = psutil.Process(process.pid).memory_info().rss
            cache = EstateCache(settings)
            refresh = timed(cache.refresh, 3)
        finally:
            console.stop()
    shutil.rmtree(root, ignore_errors=True)
    base = ms(bare)
    rows_out = [
        (f"topics on the cluster (created in {created_s:.0f} s)", f"{rows:,}", ""),
        ("topics page over HTTP, super user (100 of all)", ms(page), base),
        (f"topics page over HTTP, a tenant ({visible:,} visible)", ms(tenant_page), base),
        ("topics page filtered by name (q=topic-0042)", ms(found), base),
    ]
    if in_browser is not None:
        rows_out.append(("topics page in chromium, start to load event", ms(in_browser), base))
    rows_out += [
        ("one background read of the cluster", ms(refresh), base),
        ("console memory (RSS)", f"{full_rss / 2**20:,.0f} MiB",
         f"{empty_rss / 2**20:,.0f} MiB empty"),
    ]  # fmt: skip
    report(rows_out, title=f"console at {len(names):,} topics (baseline: bare list_topics, "
           "or the same console on the empty cluster)")  # fmt: skip


if __name__ == "__main__":
    main()
