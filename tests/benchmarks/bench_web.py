"""Latency of the calculator's JSON API (issue 16). Not a test: pytest does not collect it.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_web.py [FIT.nc] [--requests 200] [--batch 1000] [--out FILE.json]

Without FIT it uses the cached fit of the bundled data that ``microcalc serve`` uses (fitting it once,
15-30 s, if absent). The app runs in uvicorn on a free port of 127.0.0.1 in this process and is called
over one keep-alive HTTP connection, so the times include HTTP, JSON, validation and scoring.

Figures (aims: single lesion < 50 ms, 1,000-lesion batch < 1 s):

1. single lesion, cold: ``POST /api/predict`` with one bundled lesion, a different one each time, the
   server's memo of answers cleared before each request (every answer computed); median and 95th
   percentile over ``--requests``.
2. single lesion, warm: the same requests again, answered from the memo (a calculator user going back
   to a case she entered before).
3. the page's ``POST /api/case`` (answer, odds ratios of every entered finding and the plot), cold.
4. a batch of ``--batch`` lesions (bundled lesions resampled) in one ``POST /api/predict``, median of 5,
   and the same lesions as a CSV file through ``POST /api/batch`` (``predict_file``), median of 5.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np


def lesion_json(frame) -> list[dict]:
    """Canonical lesions as JSON objects (blanks left out)."""
    import pandas as pd

    from microcalc.io import schema

    out = []
    for row in frame.to_dict("records"):
        out.append(
            {
                k: (v.item() if isinstance(v, np.generic) else v)
                for k, v in row.items()
                if k in schema.COLUMNS and k != schema.OUTCOME and not pd.isna(v)
            }
        )
    return out


def serve_in_thread(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


def post(conn: http.client.HTTPConnection, path: str, body: bytes, content_type: str) -> tuple[float, bytes]:
    """Seconds for one request (sent to response fully read), and the response body."""
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {data[:300]!r}")
    return elapsed, data


def summary(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {
        "n": len(ms),
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", nargs="?", type=Path)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import microcalc
    from microcalc.web.app import create_app
    from microcalc.web.server import open_fit

    fit, fit_path = open_fit(args.fit, say=print)
    app = create_app(fit, fit_path)
    service = app.state.service
    server, thread, port = serve_in_thread(app)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    lesions = lesion_json(microcalc.read_lesions(microcalc.bundled_data_path()))
    rng = np.random.default_rng(1)
    singles = [lesions[i] for i in rng.permutation(len(lesions))[: args.requests]]
    load_before = os.getloadavg()

    post(conn, "/api/predict", json.dumps({"lesions": singles[:1]}).encode(), "application/json")  # warm-up
    cold = []
    for lesion in singles:
        service.predictions.clear()
        cold.append(post(conn, "/api/predict", json.dumps({"lesions": [lesion]}).encode(), "application/json")[0])
    for lesion in singles:  # every answer remembered (the memo holds 2,048), then asked again
        post(conn, "/api/predict", json.dumps({"lesions": [lesion]}).encode(), "application/json")
    warm = [
        post(conn, "/api/predict", json.dumps({"lesions": [lesion]}).encode(), "application/json")[0]
        for lesion in singles
    ]
    cases = []
    for lesion in singles[:50]:
        service.cases.clear()
        body = {"lesion": {k: v for k, v in lesion.items() if k not in ("site", "patient_id")}, "population": "new"}
        cases.append(post(conn, "/api/case", json.dumps(body).encode(), "application/json")[0])

    picks = rng.integers(0, len(lesions), size=args.batch)
    batch = [{**lesions[i], "lesion_id": f"L{j}"} for j, i in enumerate(picks)]
    body = json.dumps({"lesions": batch}).encode()
    batch_times = [post(conn, "/api/predict", body, "application/json")[0] for _ in range(5)]
    import pandas as pd

    csv = pd.DataFrame(batch).to_csv(index=False).encode()
    upload_times = [post(conn, "/api/batch?name=batch.csv", csv, "text/csv")[0] for _ in range(5)]
    server.should_exit = True
    thread.join(10)

    result = {
        "fit": str(fit_path),
        "draws": int(fit.convergence.chains * fit.convergence.draws),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "single_cold": summary(cold),
        "single_warm": summary(warm),
        "case_cold": summary(cases),
        "batch_json": {"lesions": args.batch, "bytes": len(body), **summary(batch_times)},
        "batch_upload": {"lesions": args.batch, "bytes": len(csv), **summary(upload_times)},
    }
    print(
        f"fit {fit_path} ({result['draws']} posterior draws); {result['cores']} cores, load "
        f"{load_before[0]:.2f} -> {result['load_after'][0]:.2f}"
    )
    for name, label in (
        ("single_cold", "single lesion, computed (aim < 50 ms)"),
        ("single_warm", "single lesion, remembered"),
        ("case_cold", "page answer /api/case, computed"),
        ("batch_json", f"{args.batch}-lesion JSON batch (aim < 1 s)"),
        ("batch_upload", f"{args.batch}-lesion CSV upload /api/batch"),
    ):
        r = result[name]
        print(f"  {label:42} median {r['median_ms']:8.1f} ms   p95 {r['p95_ms']:8.1f} ms   (n={r['n']})")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(microcalc.DISCLAIMER)


if __name__ == "__main__":
    sys.exit(main())
