"""What one request of the listener path costs the server: SQL statements and CPU time, per
request type.

Run: ``.venv/bin/python benchmarks/request_cost.py`` (PostgreSQL and Redis as for
``listeners.py``). It recreates its own database (``--database-url``), builds one study as
``listeners.py`` does, then walks ``--listeners`` listeners one after the other through the
protocol in this process (Django's test client, the site's settings with ``DEBUG=false``) and
prints per request type the statements and the CPU milliseconds of this process
(``time.process_time``; PostgreSQL's own work is not in it). CPU time, unlike wall time, stays
meaningful on a machine shared with other work. ``--profile KIND`` runs that request type
under cProfile and prints where its time goes; ``--reuse`` keeps the database of an earlier
run and adds a new study to it.

At the target of 400 rating POSTs/s the whole path's CPU per rating, times 400, has to fit in
the machine's cores beside PostgreSQL: the last line says how many cores that is.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol import KINDS, build_study, cpu_per_request, sql_per_request  # noqa: E402
from stack import manage, recreate_database, stack_env  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/harken_bench_cost"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench-cost"))
    parser.add_argument("--listeners", type=int, default=10)
    parser.add_argument("--systems", type=int, default=4)
    parser.add_argument("--sentences", type=int, default=25)
    parser.add_argument("--playlists", type=int, default=60)
    parser.add_argument("--clips-per-listener", type=int, default=8)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--profile", action="append", default=[], choices=KINDS, metavar="KIND")
    parser.add_argument("--reuse", action="store_true", help="keep the database and var folder")
    args = parser.parse_args(argv)
    # stack_env's gunicorn settings do not matter here: no server runs.
    args.workers, args.worker_class, args.threads = 1, "sync", 1
    if args.listeners * 3 // 2 + 3 > args.playlists:
        parser.error("--playlists must be 1.5 x --listeners + 3 (the profiled pass, warm-ups)")

    var_dir = Path(args.var_dir)
    env = stack_env(args, var_dir)
    if not args.reuse:
        shutil.rmtree(var_dir, ignore_errors=True)
        var_dir.mkdir(parents=True)
        recreate_database(args.database_url)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
    os.environ.update(env)
    import django

    django.setup()
    slug = f"cost-{int(time.time())}"
    build_study(args, slug)

    statements = sql_per_request(slug)
    seconds = cpu_per_request(slug, args.listeners)
    print(f"\n{args.listeners} listeners, one after the other; load {os.getloadavg()[0]:.1f}")
    header = ["request", "n", "statements", "CPU ms mean", "p50", "max"]
    rows = [
        [
            kind,
            str(len(seconds[kind])),
            f"{statements.get(kind, 0):.1f}",
            f"{1000 * statistics.mean(seconds[kind]):.2f}",
            f"{1000 * statistics.median(seconds[kind]):.2f}",
            f"{1000 * max(seconds[kind]):.2f}",
        ]
        for kind in KINDS
        if seconds.get(kind)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    # Per rating at steady state: its page, its audio and its POST.
    per_rating = sum(statistics.mean(seconds[k]) for k in ("rating page", "clip audio"))
    per_rating += statistics.mean(seconds["rating POST"])
    print(
        f"\nper rating (page + audio + POST): {1000 * per_rating:.2f} ms of CPU in Django;"
        f" 400 ratings/s need {400 * per_rating:.2f} cores for Django alone"
    )
    # A second pass under the profilers (their own cost would distort the figures above),
    # timed in CPU seconds so that waits on PostgreSQL are not counted as work.
    profiles = {kind: cProfile.Profile(time.process_time) for kind in args.profile}
    if profiles:
        cpu_per_request(slug, max(1, args.listeners // 2), profiles)
    for kind, profiler in profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        print(f"\n--- profile of {kind} ---\n{out.getvalue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
