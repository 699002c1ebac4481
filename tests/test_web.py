"""The calculator web application (microcalc.web): API answers equal Fit.predict and `microcalc predict`,
bad input gets the CLI's message with a 4xx status, bodies are size-limited, the page is self-contained.

One small fit (150 bundled lesions, 2 chains x 200 draws) serves every test; it is shared with
test_web_browser.py through a file in the session's temporary folder. Equality between the server and
Fit.predict on the same fit does not need convergence; nothing here asserts on the model's values.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import warnings
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

import microcalc  # noqa: E402
from microcalc import DISCLAIMER
from microcalc.io import schema  # noqa: E402
from microcalc.io.errors import LesionInputError, LesionWarning  # noqa: E402
from microcalc.modelling.predict import DEFAULT_POPULATION  # noqa: E402
from microcalc.reporting import literature
from microcalc.web import app as web_app  # noqa: E402
from microcalc.web import cache, case, inputs, plot, server  # noqa: E402
from microcalc.web.app import create_app  # noqa: E402

SUMMARY = ["p_malignant", "ci_lower", "ci_upper", "p_above_2pct"]
FIT_LESIONS, FIT_DRAWS, FIT_CHAINS, FIT_SEED = 150, 200, 2, 1


def shared_fit_path(tmp_path_factory) -> Path:
    """The small web fit's file, fitted by the first test module that needs it (also test_web_browser.py)."""
    path = tmp_path_factory.getbasetemp() / "microcalc-web-fit" / "fit.nc"
    if not path.is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lesions = microcalc.read_lesions(microcalc.bundled_data_path()).head(FIT_LESIONS)
            fit = microcalc.fit(lesions, draws=FIT_DRAWS, tune=FIT_DRAWS, chains=FIT_CHAINS, seed=FIT_SEED)
        fit.save(path)
    return path


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    return shared_fit_path(tmp_path_factory)


@pytest.fixture(scope="module")
def web_fit(fit_path):
    fit = microcalc.load(fit_path)
    assert fit.convergence.chains == FIT_CHAINS and fit.convergence.draws == FIT_DRAWS
    return fit


@pytest.fixture(scope="module")
def client(web_fit, fit_path) -> TestClient:
    return TestClient(create_app(web_fit, fit_path))


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    """60 bundled lesions the fit did not see, plus hand-made ones with risk factors, blanks and sites."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LesionWarning)
        bundled = microcalc.read_lesions(microcalc.bundled_data_path())
    extra = pd.DataFrame(
        {
            "lesion_id": ["x1", "x2", "x3", "x4"],
            "morphology": ["fine_linear|punctate", pd.NA, "rim", "amorphous"],
            "distribution": ["segmental", pd.NA, pd.NA, "grouped"],
            "birads": ["4C", pd.NA, "2", "4"],
            "calc_count": [12, pd.NA, 3, pd.NA],
            "change": ["new", pd.NA, "stable", pd.NA],
            "brca": [True, pd.NA, False, pd.NA],
            "family_history": [pd.NA, True, pd.NA, pd.NA],
            "age": [47.0, 61.0, pd.NA, 80.0],
            "site": ["A", pd.NA, "Z", "B"],
        }
    )
    cells = extra.astype("string")
    frame = microcalc.io.readers.validate_cells(cells, file="extra", fmt="canonical")
    cols = list(frame.columns)
    return pd.concat([bundled.iloc[FIT_LESIONS : FIT_LESIONS + 60][cols], frame], ignore_index=True)


def as_json(frame: pd.DataFrame) -> list[dict]:
    """Canonical lesions as JSON objects (typed values; blanks left out), as a program would send them."""
    out = []
    for row in frame.to_dict("records"):
        lesion = {}
        for key, value in row.items():
            if key not in schema.COLUMNS or key == schema.OUTCOME or pd.isna(value):
                continue
            lesion[key] = value.item() if isinstance(value, np.generic) else value
        out.append(lesion)
    return out


def as_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Canonical lesions as a canonical CSV file (yes/no as words, whole numbers without '.0')."""
    text = frame[[c for c in frame.columns if c in schema.COLUMNS and c != schema.OUTCOME]].copy()
    for c in schema.YES_NO_COLUMNS:
        if c in text:
            text[c] = text[c].map({True: "yes", False: "no"}, na_action="ignore")
    if "age" in text:
        text["age"] = text["age"].astype("Float64").map(lambda a: f"{a:g}", na_action="ignore")
    text.to_csv(path, index=False)
    return path


def predict_json(client: TestClient, lesions: list[dict], **extra) -> pd.DataFrame:
    response = client.post("/api/predict", json={"lesions": lesions, **extra})
    assert response.status_code == 200, response.text
    return pd.DataFrame(response.json()["predictions"])


# --- answers equal Fit.predict and microcalc predict ----------------------------------------------


def test_predict_equals_fit_predict(client, web_fit, held_out):
    got = predict_json(client, as_json(held_out))
    expected = web_fit.predict(held_out)
    assert list(got.columns) == ["lesion_id", *SUMMARY]
    assert got["lesion_id"].tolist() == held_out["lesion_id"].astype(str).tolist()
    np.testing.assert_array_equal(got[SUMMARY].to_numpy(), expected[SUMMARY].to_numpy(dtype=float))
    assert got["p_malignant"].nunique() > 10  # the lesions really differ


def test_predict_equals_cli_predict_file(client, fit_path, held_out, tmp_path):
    from microcalc.batch.scoring import predict_file

    out = tmp_path / "pred.csv"
    predict_file(fit_path, as_csv(held_out, tmp_path / "cases.csv"), out)
    cli = pd.read_csv(out, dtype={"lesion_id": str})
    got = predict_json(client, as_json(held_out))
    np.testing.assert_array_equal(got[SUMMARY].to_numpy(), cli[SUMMARY].to_numpy())


def test_remembered_answers_equal_fresh_ones(client, web_fit, held_out):
    """The memo of small requests gives exactly what a fresh computation gives, whatever the lesion ids."""
    lesions = as_json(held_out.head(5))
    first = predict_json(client, lesions)
    renamed = [{**lesion, "lesion_id": f"other-{i}"} for i, lesion in enumerate(lesions)]
    again = predict_json(client, renamed)
    assert again["lesion_id"].tolist() == [f"other-{i}" for i in range(5)]
    np.testing.assert_array_equal(first[SUMMARY].to_numpy(), again[SUMMARY].to_numpy())
    single = predict_json(client, lesions[2:3])
    np.testing.assert_array_equal(single[SUMMARY].to_numpy(), web_fit.predict(held_out.iloc[2:3])[SUMMARY].to_numpy())


def test_population_is_predict_site(client, web_fit, held_out):
    siteless = held_out[held_out["site"].isna()].head(8)
    assert len(siteless) and "A" in web_fit.sites
    at_a = predict_json(client, as_json(siteless), population="site:A")
    np.testing.assert_array_equal(
        at_a[SUMMARY].to_numpy(), web_fit.predict(siteless, site="A")[SUMMARY].to_numpy(dtype=float)
    )
    new = predict_json(client, as_json(siteless))
    assert not np.array_equal(new["p_malignant"].to_numpy(), at_a["p_malignant"].to_numpy())


def test_ci_is_honoured(client, web_fit, held_out):
    got = predict_json(client, as_json(held_out.head(6)), ci=0.5)
    expected = web_fit.predict(held_out.head(6), ci=0.5)
    np.testing.assert_array_equal(got[SUMMARY].to_numpy(), expected[SUMMARY].to_numpy(dtype=float))
    assert (got["ci_upper"] - got["ci_lower"] > 0).all()


def test_json_values_of_every_type_read_as_csv_cells(client, web_fit):
    lesion = {
        "lesion_id": 7,
        "morphology": ["fine_pleomorphic", "amorphous"],
        "calc_count": 6.0,
        "age": 52.5,
        "brca": True,
        "tp53": "no",
        "birads": "4B",
        "distribution": None,
        "change": "",
    }
    got = predict_json(client, [lesion])
    frame = microcalc.io.readers.validate_cells(
        pd.DataFrame(
            {
                "lesion_id": ["7"],
                "morphology": ["fine_pleomorphic|amorphous"],
                "calc_count": ["6"],
                "age": ["52.5"],
                "brca": ["true"],
                "tp53": ["no"],
                "birads": ["4B"],
            },
            dtype="string",
        ),
        fmt="canonical",
    )
    assert got["lesion_id"].tolist() == ["7"]
    np.testing.assert_array_equal(got[SUMMARY].to_numpy(), web_fit.predict(frame)[SUMMARY].to_numpy(dtype=float))


def test_warnings_are_returned_not_lost(client):
    response = client.post("/api/predict", json={"lesions": [{"lesion_id": "a", "age": 150}]})
    assert response.status_code == 200
    assert any("age outside 18-110" in w and "request" in w for w in response.json()["warnings"])


# --- bad input: a 4xx with the CLI's message ---------------------------------------------------------

# (lesions as JSON, the same lesions as CSV text): validation errors must read as the CLI reads the CSV.
CLI_ERRORS = {
    "unknown_morphology": ([{"lesion_id": "a", "morphology": "starry"}], "lesion_id,morphology\na,starry\n"),
    "unknown_distribution": ([{"lesion_id": "a", "distribution": "cloudy"}], "lesion_id,distribution\na,cloudy\n"),
    "birads_6": ([{"lesion_id": "a", "birads": "6"}], "lesion_id,birads\na,6\n"),
    "birads_number_7": ([{"lesion_id": "a", "birads": 7}], "lesion_id,birads\na,7\n"),
    "age_text": ([{"lesion_id": "a"}, {"lesion_id": "b", "age": "fifty"}], "lesion_id,age\na,\nb,fifty\n"),
    "count_zero": ([{"lesion_id": "a", "calc_count": 0}], "lesion_id,calc_count\na,0\n"),
    "count_fraction": ([{"lesion_id": "a", "calc_count": 2.5}], "lesion_id,calc_count\na,2.5\n"),
    "yes_no_word": ([{"lesion_id": "a", "brca": "maybe"}], "lesion_id,brca\na,maybe\n"),
    "boolean_for_word": ([{"lesion_id": "a", "change": True}], "lesion_id,change\na,true\n"),
    "density_e": ([{"lesion_id": "a", "breast_density": "e"}], "lesion_id,breast_density\na,e\n"),
    "blank_id": ([{"lesion_id": "", "birads": "4"}], "lesion_id,birads\n,4\n"),
    "duplicate_id": ([{"lesion_id": "a"}, {"lesion_id": "a"}], "lesion_id,birads\na,\na,\n"),
    "list_word_unknown": (
        [{"lesion_id": "a", "morphology": ["rim", "starry"]}],
        "lesion_id,morphology\na,rim|starry\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CLI_ERRORS))
def test_validation_errors_carry_the_cli_message(name, client, tmp_path):
    lesions, csv_text = CLI_ERRORS[name]
    path = tmp_path / "request.csv"
    path.write_text(csv_text)
    with pytest.raises(LesionInputError) as cli:
        microcalc.read_lesions(path)
    response = client.post("/api/predict", json={"lesions": lesions})
    assert response.status_code == 400
    assert response.json()["error"] == str(cli.value).replace(str(path), "request")
    assert response.json()["lesion_index"] == cli.value.row - 2


# (body bytes, content type, expected status, words the message must hold)
BAD_REQUESTS = {
    "not_json": (b"lesion_id,morphology\na,rim\n", "application/json", 400, "not valid JSON"),
    "not_utf8": (b'{"lesions": "\xff"}', "application/json", 400, "UTF-8"),
    "empty_body": (b"", "application/json", 400, "not valid JSON"),
    "top_level_list": (b'[{"lesion_id": "a"}]', "application/json", 400, "expected a JSON object"),
    "no_lesions_key": (b'{"lesion": []}', "application/json", 400, "unknown key"),
    "lesions_missing": (b"{}", "application/json", 400, "no 'lesions'"),
    "lesions_not_list": (b'{"lesions": {"lesion_id": "a"}}', "application/json", 400, "must be a list"),
    "lesions_empty": (b'{"lesions": []}', "application/json", 400, "empty"),
    "lesion_not_object": (b'{"lesions": ["a"]}', "application/json", 400, "must be a JSON object"),
    "unknown_field": (
        b'{"lesions": [{"lesion_id": "a", "morphlogy": "rim"}]}',
        "application/json",
        400,
        "unknown lesion field",
    ),
    "object_value": (b'{"lesions": [{"lesion_id": "a", "age": {"years": 50}}]}', "application/json", 400, "wrong type"),
    "list_for_single_word": (
        b'{"lesions": [{"lesion_id": "a", "birads": ["4"]}]}',
        "application/json",
        400,
        "wrong type",
    ),
    "list_of_numbers": (
        b'{"lesions": [{"lesion_id": "a", "morphology": [1, 2]}]}',
        "application/json",
        400,
        "only strings",
    ),
    "nan": (b'{"lesions": [{"lesion_id": "a", "age": NaN}]}', "application/json", 400, "NaN"),
    "infinity": (b'{"lesions": [{"lesion_id": "a", "age": 1e999}]}', "application/json", 400, "wrong type"),
    "deep": (b'{"lesions": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", 400, "nested"),
    "ci_out_of_range": (b'{"lesions": [{"lesion_id": "a"}], "ci": 1.5}', "application/json", 400, "'ci'"),
    "ci_text": (b'{"lesions": [{"lesion_id": "a"}], "ci": "0.9"}', "application/json", 400, "'ci'"),
    "unknown_population": (
        b'{"lesions": [{"lesion_id": "a"}], "population": "Mars"}',
        "application/json",
        400,
        "unknown population",
    ),
    "form_post": (b"lesions=a", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
    "text_plain": (b'{"lesions": [{"lesion_id": "a"}]}', "text/plain", 415, "Content-Type"),
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_requests_get_4xx_and_a_message(name, client):
    body, content_type, status, words = BAD_REQUESTS[name]
    response = client.post("/api/predict", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert words in message and message.startswith("request")
    assert "Traceback" not in response.text and "\n" not in message


def test_case_endpoint_bad_input(client):
    bad = client.post("/api/case", json={"lesion": {"age": "old"}})
    assert bad.status_code == 400 and "age is not a number" in bad.json()["error"]
    assert client.post("/api/case", json={"lesion": [1]}).status_code == 400
    assert client.post("/api/case", json={"lesion": {}, "population": 3}).status_code == 400
    assert client.get("/api/predict").status_code == 405
    assert client.get("/nothing-here").json()["error"]


# --- size limits -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limits(web_fit, fit_path) -> TestClient:
    return TestClient(create_app(web_fit, fit_path, max_json_bytes=4096, max_upload_bytes=8192))


def chunks(total: int, size: int = 1000):
    """A body sent chunked (no Content-Length): ``total`` bytes of JSON-ish text."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def test_declared_length_over_the_limit_is_refused(small_limits):
    body = json.dumps({"lesions": [{"lesion_id": f"l{i}", "morphology": "rim"} for i in range(200)]}).encode()
    assert len(body) > 4096
    response = small_limits.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "4 KiB" in response.json()["error"]


def test_chunked_body_over_the_limit_is_refused(small_limits):
    response = small_limits.post("/api/predict", content=chunks(20_000), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "content-length" not in response.request.headers


@contextmanager
def running(app):
    """The app served by uvicorn on a free port of 127.0.0.1 in a thread; yields (host, port)."""
    import threading
    import time

    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield "127.0.0.1", srv.servers[0].sockets[0].getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(10)


def test_chunked_body_over_the_limit_is_refused_by_a_real_server(web_fit, fit_path):
    import http.client

    app = create_app(web_fit, fit_path, max_json_bytes=4096)
    with running(app) as (host, port):
        for parts, status in (([b" " * 1000] * 5, 413), ([b'{"lesions": [{"lesion_id": "a"}]}', b" " * 1000], 200)):
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request(
                "POST",
                "/api/predict",
                body=iter(parts),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = conn.getresponse()
            assert response.status == status
            assert (b"larger than the limit" in response.read()) == (status == 413)
            conn.close()


def test_body_under_the_limit_is_read(small_limits):
    body = json.dumps({"lesions": [{"lesion_id": "a", "morphology": "rim"}]}).encode() + b" " * 3000
    response = small_limits.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    chunked = small_limits.post("/api/predict", content=chunks(3000), headers={"content-type": "application/json"})
    assert chunked.status_code == 400  # read whole (spaces only: not JSON), not refused for its size


def test_upload_over_the_limit_is_refused(small_limits):
    response = small_limits.post("/api/batch", content=chunks(50_000, 4096), headers={"content-type": "text/csv"})
    assert response.status_code == 413 and "8 KiB" in response.json()["error"]
    under = small_limits.post("/api/batch", content=b"lesion_id,birads\na,4\n", headers={"content-type": "text/csv"})
    assert under.status_code == 200


def test_bad_content_length_is_refused(small_limits):
    response = small_limits.post(
        "/api/predict", content=b"{}", headers={"content-type": "application/json", "content-length": "abc"}
    )
    assert response.status_code == 400


# --- batch files ---------------------------------------------------------------------------------------


def test_batch_csv_equals_predict_file(client, fit_path, bundled_path, tmp_path):
    from microcalc.batch.scoring import predict_file

    out = tmp_path / "cli.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LesionWarning)
        predict_file(fit_path, bundled_path, out)
    response = client.post(
        "/api/batch?name=ddsm_calcifications.csv",
        content=bundled_path.read_bytes(),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200
    assert response.content == out.read_bytes()
    assert response.headers["x-microcalc-lesions"] == "617"
    assert 'filename="ddsm_calcifications_predictions.csv"' in response.headers["content-disposition"]
    notes = json.loads(response.headers["x-microcalc-warnings"])
    assert notes and all(n.startswith("ddsm_calcifications.csv:") for n in notes)  # the bundled age of 1
    assert "microcalc-web-" not in response.headers["x-microcalc-warnings"]


def test_batch_parquet_in_and_out_and_cbis(client, web_fit, fit_path, cbis_path, held_out, tmp_path):
    from microcalc.batch.scoring import predict_file

    parquet_in = tmp_path / "cases.parquet"
    held_out.to_parquet(parquet_in)
    response = client.post(
        "/api/batch?output=parquet&name=cases.parquet",
        content=parquet_in.read_bytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    predict_file(fit_path, parquet_in, tmp_path / "cli.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(io.BytesIO(response.content)), pd.read_parquet(tmp_path / "cli.parquet")
    )
    site = web_fit.sites[-1]
    cbis = client.post(
        f"/api/batch?name=cbis.csv&population=site:{site}",
        content=cbis_path.read_bytes(),
        headers={"content-type": "text/csv"},
    )
    assert cbis.status_code == 200
    predict_file(fit_path, cbis_path, tmp_path / "cbis.csv", site=site)
    assert cbis.content == (tmp_path / "cbis.csv").read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"lesion_id,morphology\na,starry\n",
        b"foo,bar\n1,2\n",
        b"PK\x03\x04 an excel file",
        b"lesion_id,birads\n",
        b"\x00\x01\x02" * 40,
    ],
)
def test_batch_errors_are_the_cli_messages(content, client, fit_path, tmp_path):
    from microcalc.batch.scoring import predict_file

    path = tmp_path / "mine.csv"
    path.write_bytes(content)
    with pytest.raises(LesionInputError) as cli:
        predict_file(fit_path, path, tmp_path / "out.csv")
    response = client.post(
        "/api/batch?name=/home/someone/mine.csv", content=content, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == str(cli.value).replace(str(path), "mine.csv")


def test_batch_refuses_bad_parameters_and_types(client):
    csv_body = b"lesion_id,birads\na,4\n"
    for query in ("output=xlsx", "output=../../etc/passwd", "ci=2", "ci=x", "population=nowhere"):
        response = client.post(f"/api/batch?{query}", content=csv_body, headers={"content-type": "text/csv"})
        assert response.status_code == 400, query
    assert client.post("/api/batch", content=csv_body, headers={"content-type": "text/plain"}).status_code == 415


def test_names_from_requests_are_never_paths():
    assert web_app.display_name("C:\\fakepath\\lesions.csv") == "lesions.csv"
    assert web_app.display_name("../../etc/passwd") == "passwd"
    assert web_app.display_name("a\x00b\nc.csv") == "abc.csv"
    assert web_app.display_name(None) == web_app.display_name("") == "upload"
    assert web_app.download_name("my lesions (2).csv", "parquet") == "my_lesions_2_predictions.parquet"
    assert web_app.download_name("..", "csv") == "lesions_predictions.csv"


# --- the page and the case endpoint ----------------------------------------------------------------------


def test_page_is_self_contained_and_says_what_it_is(client, web_fit):
    response = client.get("/")
    page = response.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    from microcalc.reporting.report import CSS

    assert CSS in page  # the report's look, shared not copied
    assert DISCLAIMER.split(":")[0] in page and page.count('class="disclaimer"') >= 2  # at the top and the end
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page)  # nothing loaded from elsewhere
    assert "{{" not in page
    for site in web_fit.sites:
        assert f"value='site:{site}'" in page
    for word in schema.MORPHOLOGY:
        assert f"value='{word}'" in page
    only = case.prior_only_columns(web_fit)
    assert "brca" in only and "age" not in only  # README: no bundled data set records BRCA
    assert page.count("prior only</span>") >= len(only)
    assert ("NOT CONVERGED" in page) == (not web_fit.convergence.ok)


def test_not_converged_fit_gets_the_banner(web_fit, fit_path):
    from microcalc.modelling.diagnostics import Convergence

    bad = dataclasses.replace(
        web_fit,
        convergence=Convergence(
            max_rhat=1.3,
            min_ess_bulk=12.0,
            min_ess_tail=10.0,
            divergences=4,
            chains=2,
            draws=200,
            worst_rhat="intercept",
            worst_ess="site_z",
        ),
    )
    page = TestClient(create_app(bad, fit_path)).get("/").text
    assert "id='not-converged'" in page and "R-hat 1.300" in page
    good = dataclasses.replace(
        web_fit,
        convergence=Convergence(
            max_rhat=1.001,
            min_ess_bulk=900.0,
            min_ess_tail=800.0,
            divergences=0,
            chains=2,
            draws=200,
            worst_rhat="a",
            worst_ess="b",
        ),
    )
    assert "not-converged" not in TestClient(create_app(good, fit_path)).get("/").text


def test_case_answer_equals_predict_and_explains_itself(client, web_fit):
    lesion = {
        "morphology": ["fine_linear", "punctate"],
        "distribution": "segmental",
        "birads": "4C",
        "age": "58",
        "brca": "yes",
    }
    response = client.post("/api/case", json={"lesion": lesion, "population": "site:A"})
    assert response.status_code == 200
    answer = response.json()
    frame = microcalc.io.readers.validate_cells(
        pd.DataFrame(
            {
                "lesion_id": ["case"],
                "morphology": ["fine_linear|punctate"],
                "distribution": ["segmental"],
                "birads": ["4C"],
                "age": ["58"],
                "brca": ["yes"],
            },
            dtype="string",
        ),
        fmt="canonical",
    )
    expected = web_fit.predict(frame, site="A").iloc[0]
    assert [answer[c] for c in SUMMARY] == [float(expected[c]) for c in SUMMARY]
    assert answer["population"] == "Training site A"
    assert [e["column"] for e in answer["effects"]] != []
    assert sorted(e["column"] for e in answer["effects"]) == sorted(
        ["morphology", "distribution", "birads", "age", "brca"]
    )
    for effect in answer["effects"]:
        assert effect["or_lower"] <= effect["or_median"] <= effect["or_upper"]
        blank = frame.copy()
        blank.loc[0, effect["column"]] = pd.NA
        assert effect["p_without"] == pytest.approx(
            float(web_fit.predict(blank, site="A")["p_malignant"].iloc[0]), rel=1e-12
        )
    assert [p["column"] for p in answer["prior_only"]] == ["brca"]
    main = [p for p in answer["published"] if p["main"]]
    assert len(main) == 1 and (main[0]["low"], main[0]["high"]) == (
        literature.MORPHOLOGY["fine_linear"].low,
        literature.MORPHOLOGY["fine_linear"].high,
    )
    svg = ET.fromstring(answer["plot_svg"])
    assert svg.tag.endswith("svg") and "href" not in answer["plot_svg"]
    assert 0 < len(svg.findall(".//{http://www.w3.org/2000/svg}rect[@class='bar']")) <= plot.BINS


def test_case_with_nothing_entered(client, web_fit):
    answer = client.post("/api/case", json={"lesion": {}}).json()
    expected = web_fit.predict(
        microcalc.io.readers.validate_cells(pd.DataFrame({"lesion_id": ["case"]}, dtype="string"), fmt="canonical")
    ).iloc[0]
    assert answer["p_malignant"] == float(expected["p_malignant"])
    assert answer["effects"] == [] and answer["published"] == [] and answer["prior_only"] == []


def test_odds_ratio_per_draw():
    p = np.array([0.5, 0.2, 0.9])
    q = np.array([0.5, 0.5, 0.5])
    ors = case.odds_ratio_summary(p, q, 0.95)
    ratios = [1.0, 0.25, 9.0]  # odds 1, 0.25 and 9 against odds 1, draw by draw
    assert ors["or_median"] == pytest.approx(1.0)
    assert (ors["or_lower"], ors["or_upper"]) == pytest.approx(tuple(np.quantile(ratios, [0.025, 0.975])))
    assert np.isfinite(case.log_odds(np.array([0.0, 1.0]))).all()


@pytest.mark.parametrize(
    "lesion, expected",
    [
        ({"morphology": "fine_pleomorphic|rim"}, ("morphology", "fine_pleomorphic")),
        ({"morphology": "punctate|fine_linear", "distribution": "grouped"}, ("morphology", "fine_linear")),
        ({"distribution": "grouped", "birads": "4B"}, ("headline", "grouped")),
        ({"distribution": "grouped", "birads": "3"}, ("distribution", "grouped")),
        ({"distribution": "linear|regional"}, ("distribution", "linear")),
        ({"birads": "5"}, ("birads", "5")),
        ({"birads": "1"}, None),
        ({}, None),
    ],
)
def test_main_finding(lesion, expected):
    row = pd.Series({"morphology": pd.NA, "distribution": pd.NA, "birads": pd.NA, **lesion})
    assert case.main_finding(row) == expected
    if expected and expected[0] == "headline":
        assert case.published_rate(*expected) == literature.GROUPED_CLUSTER


def test_populations_are_one_line_each():
    choices = case.populations(("A", "B"))
    assert [p.key for p in choices] == ["clinical", "new", "site:A", "site:B"]
    assert [p.site for p in choices] == ["clinical", "new-site", "A", "B"]
    assert case.default_population(choices).site == DEFAULT_POPULATION  # the page and API default = predict's


def test_clinical_population_is_predict_population_clinical(client, web_fit, held_out):
    """The page's and API's clinical choice gives what Fit.predict(population='clinical') gives."""
    siteless = held_out.head(6).assign(site=pd.NA)
    got = predict_json(client, as_json(siteless), population="clinical")
    expected = web_fit.predict(siteless, population="clinical")
    np.testing.assert_array_equal(
        got[["p_malignant", "ci_lower", "ci_upper"]].to_numpy(float),
        expected[["p_malignant", "ci_lower", "ci_upper"]].to_numpy(float),
    )
    at_new_site = predict_json(client, as_json(siteless), population="new")
    assert not np.allclose(got["p_malignant"], at_new_site["p_malignant"])


# --- small pure pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (None, None),
        ("rim", "rim"),
        (True, "true"),
        (False, "false"),
        (55, "55"),
        (55.0, "55"),
        (52.5, "52.5"),
        (["a", "b"], "a|b"),
    ],
)
def test_cell_text(value, text):
    assert inputs.cell_text(value, "morphology", 2) == text


def test_posterior_svg_scales_to_the_draws():
    draws = np.random.default_rng(1).beta(2, 200, size=4000)  # about 1%
    svg = plot.posterior_svg(draws, draws.mean(), *np.quantile(draws, [0.025, 0.975]), band=(0.0, 0.05))
    assert plot.x_range(draws) < 0.2  # a benign lesion's draws are not squeezed against 0
    assert ET.fromstring(svg).get("viewBox") == f"0 0 {plot.WIDTH} {plot.HEIGHT}"
    assert plot.tick_label(0.005) == "0.5%" and plot.tick_label(0.2) == "20%"


def test_memo_forgets_the_oldest():
    memo = web_app.Memo(size=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert memo.get("b") is None and memo.get("a") == 1 and memo.get("c") == 3


def test_model_input_key_ignores_ids():
    a = pd.DataFrame({"lesion_id": ["x"], "birads": pd.array(["4"], dtype="string")})
    b = pd.DataFrame({"lesion_id": ["y"], "birads": pd.array(["4"], dtype="string")})
    c = pd.DataFrame({"lesion_id": ["x"], "birads": pd.array([pd.NA], dtype="string")})
    assert web_app.model_input_key(a) == web_app.model_input_key(b) != web_app.model_input_key(c)


def test_cache_location_and_key(tmp_path):
    assert cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "microcalc"
    assert cache.cache_dir({"XDG_CACHE_HOME": "relative/dir"}) == Path.home() / ".cache" / "microcalc"
    base = cache.cache_key("0.1.0", "priors", b"data")
    assert (
        len(
            {
                base,
                cache.cache_key("0.1.1", "priors", b"data"),
                cache.cache_key("0.1.0", "priors!", b"data"),
                cache.cache_key("0.1.0", "priors", b"data2"),
                cache.cache_key("0.1.0", "prior", b"sdata"),
            }
        )
        == 5
    )
    path = cache.bundled_fit_path(tmp_path)
    assert path.parent == tmp_path and path.suffix == ".nc" and microcalc.__version__ in path.name


def test_cached_fit_is_reused_and_a_damaged_one_replaced(tmp_path, fit_path, monkeypatch):
    import shutil

    calls = []
    monkeypatch.setattr(cache, "fit_bundled", lambda path, say: calls.append(path) or "fitted")
    target = cache.bundled_fit_path(tmp_path)
    assert cache.cached_bundled_fit(tmp_path, say=lambda s: None) == ("fitted", target) and calls == [target]
    shutil.copy(fit_path, target)
    fit, path = cache.cached_bundled_fit(tmp_path, say=lambda s: None)
    assert path == target and fit.sites == microcalc.load(fit_path).sites and len(calls) == 1
    target.write_bytes(b"not a fit")
    assert cache.cached_bundled_fit(tmp_path, say=lambda s: None)[0] == "fitted" and len(calls) == 2


# --- the server and the command ----------------------------------------------------------------------------


def test_loopback_rules():
    assert all(server.is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"))
    assert not any(server.is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.org", "::"))
    assert "localhost" in server.allowed_hosts("127.0.0.1") and server.allowed_hosts("0.0.0.0") is None


def test_dns_rebinding_is_refused_on_loopback(web_fit, fit_path):
    app = create_app(web_fit, fit_path, allowed_hosts=server.allowed_hosts("127.0.0.1"))
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/health").status_code == 200
    assert TestClient(app, base_url="http://attacker.example").get("/api/health").status_code == 400


@pytest.mark.parametrize("host, loud", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serve_prints_diagnostics_and_warns_off_loopback(host, loud, fit_path, monkeypatch):
    import uvicorn

    ran = []

    def run(self):
        ran.append((self.config.host, self.config.port))
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    said, warned = [], []
    assert server.serve(fit_path, host=host, port=8123, say=said.append, warn=warned.append) == 0
    assert ran == [(host, 8123)]
    assert any(line.startswith("Diagnostics: max R-hat") for line in said)
    assert DISCLAIMER in said
    assert any("NO AUTHENTICATION" in w for w in warned) == loud
    converged = microcalc.load(fit_path).convergence.ok
    assert any("DID NOT CONVERGE" in w for w in warned) == (not converged)


def test_cli_serve_arguments_and_missing_fit(tmp_path, capsys):
    from microcalc.cli import build_parser, main

    args = build_parser().parse_args(["serve"])
    assert (args.fit, args.host, args.port) == (None, "127.0.0.1", 8000)
    args = build_parser().parse_args(["serve", "f.nc", "--port", "9001", "--host", "::1"])
    assert (args.fit, args.host, args.port) == (Path("f.nc"), "::1", 9001)
    assert main(["serve", str(tmp_path / "missing.nc")]) == 2
    assert "fit file not found" in capsys.readouterr().err


def test_content_length_with_a_non_ascii_digit_is_invalid_not_an_error():
    from microcalc.web.limits import declared_length

    assert declared_length({"headers": [(b"content-length", "²".encode("latin-1"))]}) == -1
    assert declared_length({"headers": [(b"content-length", b" 42 ")]}) == 42
    assert declared_length({"headers": []}) is None
