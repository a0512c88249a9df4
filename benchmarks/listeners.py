"""The listener path at crowd scale: simulated listeners through the real protocol, per level.

Run: ``.venv/bin/python benchmarks/listeners.py`` (PostgreSQL on 127.0.0.1:5432 and Redis on
127.0.0.1:6379, as CI has them). It

1. recreates its own database (``--database-url``, default ``harken_bench``) and a var folder
   (``var/bench``), migrates, collects the static files;
2. builds one large study per level (``--systems`` x ``--sentences`` clips of
   ``--clip-seconds`` each, ``--playlists`` playlists of ``--clips-per-listener`` clips, two
   practice clips, attention checks, the questionnaire and the headphone check);
3. starts the stack as ``make run`` does (``bin/serve.py``: gunicorn and a Celery worker, with
   ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``CACHE_URL`` on those servers; ``DEBUG=false``;
   the join limits raised for this one client address); with ``--front nginx``, also the front
   server of deploy/nginx before it, as docker-compose runs it (static files and clip audio
   sent by nginx after the site's check, ``AUDIO_SENDFILE=nginx``);
4. for each level ``N[:S]``, starts N listeners spread over S seconds, each an asyncio task
   with its own cookies that follows the protocol a browser follows: the welcome page with a
   Prolific id and SESSION_ID, consent, the questionnaire, the headphone check (the page, the
   volume tone, every trial's sound, each answer saved as the page's script saves it, then the
   answers, found from the sounds as a listener hears them), then for every page of the
   playlist: the page, its audio, a wait of the clips' length (the server refuses an earlier
   rating), the rating POST; finally the completion page;
5. prints per level: rating POSTs/s (from the first to the last rating, and over the busiest
   10 s), p50 / p95 / p99 of every request type, errors, the CPU of the server (gunicorn's
   processes, the PostgreSQL backends of this database) and of the client itself (this one
   asyncio process drives every listener: at a full core it, not the server, would set the
   pace; ``request_cost.py`` gives the server's CPU per request type); then the SQL
   statements per request type (one listener through the Django test client, counted as
   ``connection.queries`` counts them); then the integrity check in the database: the ratings
   the clients saw accepted against the rows, duplicates, and playlists rated by more than one
   listener.

Not a test: tests never assert timings. The machine's load (``os.getloadavg``) is printed
beside the figures; compare runs only on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol import (  # noqa: E402 (benchmarks/ is on the path when this script runs)
    AUDIO_RE,
    HIDDEN_RE,
    KINDS,
    QUESTIONNAIRE,
    TOKEN_RE,
    TRIAL_RE,
    build_study,
    quietest,
    rating_form,
    sql_per_request,
)
from stack import (  # noqa: E402
    BackendCpu,
    cpu_seconds,
    descendants,
    free_port,
    gunicorn_pids,
    manage,
    nginx_conf,
    recreate_database,
    stack_env,
    start_nginx,
    start_stack,
    stop_nginx,
    stop_stack,
)

AUDIO_MAGIC = (b"fLaC", b"RIFF", b"OggS")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/harken_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Why: "rating POST: HTTP 409", "clip audio: TimeoutError"...
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Every rating the client saw accepted: (external id, item id).
    accepted: list[tuple[str, str]] = field(default_factory=list)
    rating_times: list[float] = field(default_factory=list)
    completed: int = 0


class Listener:
    def __init__(self, base: str, slug: str, n: int, results: Results, clip_seconds: float):
        self.base = f"{base}/t/{slug}/"
        self.pid = f"bench{n:05d}"
        self.results = results
        self.clip_seconds = clip_seconds

    async def request(self, session, kind, method, url, data=None, expect=(200, 302)):
        url = url if url.startswith("http") else self.base.split("/t/")[0] + url
        headers = {"Referer": url}
        start = time.perf_counter()
        try:
            async with session.request(
                method, url, data=data, allow_redirects=False, headers=headers
            ) as response:
                body = await response.read()
                status = response.status
                location = response.headers.get("Location", "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.results.errors[kind] += 1
            self.results.reasons[f"{kind}: {type(exc).__name__}"] += 1
            raise
        self.results.times[kind].append(time.perf_counter() - start)
        if status not in expect:
            self.results.errors[kind] += 1
            self.results.reasons[f"{kind}: HTTP {status}"] += 1
            raise RuntimeError(f"{kind}: HTTP {status}")
        return status, body, location

    async def run(self, session: aiohttp.ClientSession) -> None:
        entry = f"{self.base}?PROLIFIC_PID={self.pid}&STUDY_ID=bench&SESSION_ID={self.pid}-1"
        _, body, _ = await self.request(session, "welcome", "GET", entry)
        csrf = TOKEN_RE.search(body.decode()).group(1)
        await self.request(
            session, "consent", "POST", entry, {"consent": "yes", "csrfmiddlewaretoken": csrf}
        )
        await self.request(session, "questionnaire", "GET", self.base + "about-you/")
        await self.request(
            session,
            "questionnaire POST",
            "POST",
            self.base + "about-you/",
            {**QUESTIONNAIRE, "csrfmiddlewaretoken": csrf},
        )
        _, body, _ = await self.request(session, "headphones", "GET", self.base + "headphones/")
        html = body.decode()
        csrf = TOKEN_RE.search(html).group(1)
        progress = self.base + "headphones/progress/"
        await self.request(session, "volume tone", "GET", self.base + "headphones/volume/")
        await self.request(
            session,
            "headphone progress",
            "POST",
            progress,
            {"volume_done": "1", "csrfmiddlewaretoken": csrf},
        )
        answers = {"csrfmiddlewaretoken": csrf}
        for index, url in TRIAL_RE.findall(html):
            _, wav, _ = await self.request(session, "headphone sound", "GET", url)
            answer = quietest(wav)
            answers[f"trial_{index}"] = str(answer)
            await self.request(
                session,
                "headphone progress",
                "POST",
                progress,
                {"trial": index, "answer": answer, "csrfmiddlewaretoken": csrf},
            )
        await self.request(session, "headphone answers", "POST", self.base + "headphones/", answers)
        while True:
            status, body, location = await self.request(
                session, "rating page", "GET", self.base + "rate/"
            )
            if status == 302:
                break  # done
            html = body.decode()
            fields = dict(HIDDEN_RE.findall(html))
            fields["csrfmiddlewaretoken"] = TOKEN_RE.search(html).group(1)
            sources = AUDIO_RE.findall(html)
            for src in sources:
                _, audio, _ = await self.request(session, "clip audio", "GET", src)
                # An X-Accel-Redirect answered by no front server is an empty 200.
                if not audio.startswith(AUDIO_MAGIC):
                    self.results.errors["clip audio"] += 1
                    self.results.reasons["clip audio: not audio bytes"] += 1
                    raise RuntimeError("clip audio: not audio bytes")
            # Play to the end: the server refuses a rating before the clips could have ended.
            await asyncio.sleep(self.clip_seconds * len(sources) + 0.05)
            _, _, location = await self.request(
                session,
                "rating POST",
                "POST",
                self.base + "rate/",
                rating_form(fields, self.clip_seconds),
                expect=(302,),
            )
            self.results.rating_times.append(time.perf_counter())
            items = [v for k, v in fields.items() if k.startswith("item_")]
            self.results.accepted += [(self.pid, item) for item in items]
            if location.endswith("/done/"):
                break
        await self.request(session, "done", "GET", self.base + "done/")
        self.results.completed += 1


async def warm_up(base: str, slug: str, n: int) -> None:
    """Load every worker's code (views, templates) before measuring: n concurrent requests."""
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.get(f"{base}/t/{slug}/") as response:
                await response.read()

        for _round in range(3):
            await asyncio.gather(*(one() for _ in range(n)))


async def drive(base: str, slug: str, n: int, spread_s: float, clip_seconds: float) -> Results:
    results = Results()

    async def one(k: int) -> None:
        await asyncio.sleep(spread_s * k / max(1, n))
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        timeout = aiohttp.ClientTimeout(total=120)
        connector = aiohttp.TCPConnector(limit=2, force_close=False)
        async with aiohttp.ClientSession(
            cookie_jar=jar, timeout=timeout, connector=connector
        ) as session:
            try:
                await Listener(base, slug, k, results, clip_seconds).run(session)
            except (TimeoutError, RuntimeError, aiohttp.ClientError):
                pass  # already counted under its request type
            except AttributeError:
                results.errors["page without its form"] += 1

    await asyncio.gather(*(one(k) for k in range(n)))
    return results


# --- Reports -----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f}"


def integrity(slug: str, results: Results) -> dict[str, int]:
    from django.db.models import Count

    from listening.models import Rating

    rows = Rating.objects.filter(listener__study__slug=slug)
    seen = set(results.accepted)
    stored = set(rows.values_list("listener__external_id", "item_id").iterator())
    stored = {(pid, str(item)) for pid, item in stored}
    doubled = rows.values("listener_id", "item_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    shared = (
        rows.values("item__playlist_id")
        .annotate(n=Count("listener_id", distinct=True))
        .filter(n__gt=1)
        .count()
    )
    return {
        "accepted by the server (client's count)": len(results.accepted),
        "rating rows": rows.count(),
        "lost (accepted, no row)": len(seen - stored),
        "unseen rows (row, never accepted)": len(stored - seen),
        "doubled (listener, item)": doubled,
        "playlists rated by two listeners": shared,
        "listeners completed": results.completed,
    }


def busiest(times: list[float], window_s: float) -> int:
    """The most ratings within any ``window_s`` seconds."""
    ordered, best, first = sorted(times), 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] > window_s:
            first += 1
        best = max(best, last - first + 1)
    return best


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def parse_levels(text: str) -> list[tuple[int, float]]:
    levels = []
    for part in text.split(","):
        n, _, spread = part.partition(":")
        levels.append((int(n), float(spread or 0)))
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--levels",
        default="50:5,200:10,500:10,1000:30",
        help="N:S listeners arriving over S seconds, comma-separated",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--cache-url", default=DEFAULT_CACHE_URL)
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"), help="emptied first")
    parser.add_argument("--systems", type=int, default=4)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--playlists", type=int, default=1000)
    parser.add_argument("--clips-per-listener", type=int, default=20)
    parser.add_argument("--clip-seconds", type=float, default=1.5)
    parser.add_argument("--workers", type=int, default=5, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", help="sync, gthread or gevent")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads per gthread worker (sync and gevent: 1)"
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        default=0,
        help="DATABASE_POOL: a psycopg pool of at most N connections per worker (0: persistent)",
    )
    parser.add_argument(
        "--front",
        choices=("none", "nginx"),
        default="none",
        help="nginx: deploy/nginx's front server before gunicorn, clip audio sent by nginx"
        " (X-Accel-Redirect, as docker-compose runs it); none: the clients talk to gunicorn"
        " and Django streams the audio (the embedded default)",
    )
    args = parser.parse_args(argv)
    levels = parse_levels(args.levels)
    if max(n for n, _ in levels) > args.playlists:
        parser.error("a level has more listeners than the study has playlists (--playlists)")

    var_dir = Path(args.var_dir)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    env = stack_env(args, var_dir)
    if args.front == "nginx":
        # As docker-compose sets the site behind its nginx.
        env.update({"AUDIO_SENDFILE": "nginx", "HARKEN_REAL_IP_HEADER": "HTTP_X_REAL_IP"})
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    slugs = []
    for n, _spread in levels:
        slug = f"bench-{n}-{len(slugs)}"
        started = time.perf_counter()
        n_playlists = build_study(args, slug)
        print(f"study {slug}: {n_playlists} playlists in {time.perf_counter() - started:.0f} s")
        slugs.append(slug)
    connection.close()

    port = free_port()
    stack = start_stack(env, port)
    front = None
    summaries, reports = [], []
    try:
        base = f"http://127.0.0.1:{port}"
        if args.front == "nginx":
            front_port = free_port()
            (var_dir / "nginx").mkdir()
            conf = nginx_conf(
                var_dir / "nginx",
                upstream=f"127.0.0.1:{port}",
                port=front_port,
                static_root=settings.STATIC_ROOT,
                media_root=settings.MEDIA_ROOT,
            )
            front = start_nginx(conf, front_port)
            base = f"http://127.0.0.1:{front_port}"
        print(
            ("front: nginx (deploy/nginx, audio by X-Accel-Redirect); " if front else "")
            + f"stack: bin/serve.py, gunicorn {args.worker_class} x {args.workers}"
            + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
            + (f", pool of {args.db_pool}" if args.db_pool else ", persistent connections")
            + f", PostgreSQL {urlsplit(args.database_url).path.lstrip('/')}, Redis;"
            f" {os.cpu_count()} cores"
        )
        asyncio.run(warm_up(base, slugs[0], args.workers * max(1, args.threads) * 2))
        for (n, spread), slug in zip(levels, slugs):
            load_before = os.getloadavg()[0]
            web = gunicorn_pids(stack)
            web_cpu = cpu_seconds(web)
            front_pids = [front.pid, *descendants(front.pid)] if front else []
            front_cpu = cpu_seconds(front_pids)
            # The client's own CPU (this process: the event loop, aiohttp, the page parsing):
            # near a core, the client and not the server would set the pace.
            client_cpu = time.process_time()
            started = time.perf_counter()
            with BackendCpu(args.database_url) as db:
                results = asyncio.run(drive(base, slug, n, spread, args.clip_seconds))
            wall = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            web_cpu = cpu_seconds(web) - web_cpu
            front_cpu = cpu_seconds(front_pids) - front_cpu
            db_cpu = db.seconds
            times = results.rating_times
            span = (max(times) - min(times)) if len(times) > 1 else float("nan")
            rate = len(times) / span if span and span == span else float("nan")
            peak = busiest(times, 10.0) / 10.0
            posts = results.times["rating POST"]
            pages = [t for k in KINDS if k not in ("rating POST",) for t in results.times[k]]
            summaries.append(
                [
                    f"{n} over {spread:g} s",
                    f"{rate:.0f} / {peak:.0f}",
                    f"{ms(pct(posts, 50))} / {ms(pct(posts, 95))} / {ms(pct(posts, 99))}",
                    ms(pct(results.times["rating page"], 99)),
                    ms(pct(results.times["welcome"], 99)),
                    ms(pct(results.times["headphones"], 99)),
                    ms(pct(pages, 99)),
                    str(sum(results.errors.values())),
                    f"{100 * web_cpu / wall:.0f} %",
                    f"{100 * front_cpu / wall:.0f} %" if front else "-",
                    f"{100 * db_cpu / wall:.0f} %",
                    f"{100 * client_cpu / wall:.0f} %",
                    f"{load_before:.1f}",
                ]
            )
            print_table(
                f"Level {n} listeners over {spread:g} s ({wall:.0f} s)",
                ["request", "n", "p50 ms", "p95 ms", "p99 ms", "errors"],
                [
                    [
                        kind,
                        str(len(results.times[kind])),
                        ms(pct(results.times[kind], 50)),
                        ms(pct(results.times[kind], 95)),
                        ms(pct(results.times[kind], 99)),
                        str(results.errors[kind]),
                    ]
                    for kind in KINDS
                ],
            )
            if results.reasons:
                print("errors: " + ", ".join(f"{k} x {v}" for k, v in results.reasons.items()))
            reports.append((slug, results))
    finally:
        if front:
            stop_nginx(front)
        stop_stack(stack)

    print_table(
        "Summary (CPU over the level's wall time, % of one core: gunicorn's processes, nginx's"
        " (with --front nginx), this database's PostgreSQL backends, and this client process)",
        [
            "listeners",
            "rating POSTs/s (all / busiest 10 s)",
            "POST p50/p95/p99 ms",
            "rating page p99",
            "welcome p99",
            "headphones p99",
            "other requests p99",
            "errors",
            "server CPU",
            "nginx CPU",
            "PostgreSQL CPU",
            "client CPU",
            "load before",
        ],
        summaries,
    )
    for slug, results in reports:
        print_table(
            f"Integrity of {slug}",
            ["check", "count"],
            [[k, str(v)] for k, v in integrity(slug, results).items()],
        )
    # After the integrity check: this listener's ratings are not the clients'.
    counts = sql_per_request(slugs[0])
    print_table(
        "SQL statements per request (Django's count, BEGIN/COMMIT included)",
        ["request", "statements"],
        [[kind, f"{counts[kind]:.1f}"] for kind in KINDS if kind in counts],
    )
    print(f"\nload average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
