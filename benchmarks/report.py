"""Time to build the full MOS report (listening.analysis.stats.build_report + JSON) at three sizes.

Run: ``.venv/bin/python benchmarks/report.py`` (``make bench``). Prints one table row per size;
the target is under 10 s for a million ratings on 2 cores. The data are synthetic: every
listener hears every sentence of the study once, the systems rotated over sentences (a balanced
Latin-square playlist), plus 2 % gold questions, 2 % repeated clips and response times, so every
screening rule runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from listening.analysis.render import report_json  # noqa: E402
from listening.analysis.stats import build_report  # noqa: E402

SIZES = [  # (systems, listeners, sentences): ratings = listeners x sentences
    (20, 200, 50),
    (20, 800, 125),
    (20, 2000, 500),
]


def synthetic_ratings(n_systems: int, n_listeners: int, n_sentences: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    listener = np.repeat(np.arange(n_listeners), n_sentences)
    sentence = np.tile(np.arange(n_sentences), n_listeners)
    system = (sentence + listener) % n_systems
    quality = rng.uniform(1.8, 4.0, n_systems)
    quality[0] = 4.5  # system 0 is the natural reference
    latent = (
        quality[system]
        + rng.normal(0, 0.35, n_sentences)[sentence]
        + rng.normal(0, 0.4, n_listeners)[listener]
        + rng.normal(0, 0.6, len(listener))
    )
    score = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    n = len(score)
    purpose = np.full(n, "test", dtype=object)
    extra = rng.random(n)
    purpose[extra < 0.02] = "gold"
    purpose[(extra >= 0.02) & (extra < 0.04)] = "repeat"
    return pd.DataFrame(
        {
            "listener": pd.Series(listener).map(lambda i: f"L{i:05d}"),
            "sentence": pd.Series(sentence).map(lambda i: f"s{i:04d}"),
            "system": pd.Series(system).map(lambda i: f"system-{i:02d}"),
            "score": score,
            "purpose": purpose,
            "expected_score": np.where(purpose == "gold", score, np.nan),
            "response_seconds": rng.lognormal(np.log(4.0), 0.5, n),
            "system_kind": np.where(system == 0, "reference", "voice"),
        }
    )


def main() -> None:
    print(
        f"{'ratings':>10} {'systems':>8} {'listeners':>10} {'sentences':>10} "
        f"{'report s':>9} {'json s':>7} {'json MB':>8}"
    )
    for n_systems, n_listeners, n_sentences in SIZES:
        ratings = synthetic_ratings(n_systems, n_listeners, n_sentences)
        start = time.perf_counter()
        report = build_report(ratings)
        built = time.perf_counter()
        text = report_json(report)
        done = time.perf_counter()
        print(
            f"{len(ratings):>10,} {n_systems:>8} {n_listeners:>10} {n_sentences:>10} "
            f"{built - start:>9.2f} {done - built:>7.2f} {len(text) / 1e6:>8.1f}"
        )


if __name__ == "__main__":
    main()
