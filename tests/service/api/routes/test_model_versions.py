"""Model versions through HTTP (issue 17, item 5): two versions of one model served and
explained side by side, the records saying which; the default, chosen and kept across a
restart; deleting a version (admin only, not under a legal hold) while replay of its
records still works; predict, jobs and the Open Inference Protocol by version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.models.versions import archive_folder
from service.settings import Settings
from tests.helpers.audit import bearer
from tests.helpers.jobs import wait_for
from tests.support import credit_bundle, credit_bundle_v2, make_settings

ADMIN = "bootstrap-admin-key-for-versions"
ADMIN_HEADERS = bearer(ADMIN)
CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
EXPLAIN = {"instances": [CASE], "method": "exact_shap"}


def _files(folder: Path) -> dict[str, tuple[str, bytes]]:
    return {
        "model": ("model.onnx", (folder / "model.onnx").read_bytes()),
        "card": ("card.yaml", (folder / "card.yaml").read_bytes()),
        "background": ("background.csv", (folder / "background.csv").read_bytes()),
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """tiny_credit 1.0 in a models folder of its own; the audit store and data dir stay put
    across restarts of the app."""
    models = tmp_path / "models"
    credit_bundle(models)
    return make_settings(
        models,
        database_url=f"sqlite:///{(tmp_path / 'audit.db').as_posix()}",
        data_dir=tmp_path / "data",
        jobs_dir=(tmp_path / "jobs").as_posix(),
        bootstrap_admin_key=ADMIN,
    )


@contextmanager
def _running(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(ADMIN_HEADERS)
        yield client


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    return credit_bundle_v2(tmp_path / "upload")


@pytest.fixture
def client(settings: Settings, v2: Path) -> Iterator[TestClient]:
    """The service with tiny_credit 1.0 from disk and 2.0 uploaded."""
    with _running(settings) as c:
        r = c.post("/v1/models", files=_files(v2))
        assert r.status_code == 201, r.text
        yield c


def _key(client: TestClient, role: str) -> dict[str, str]:
    r = client.post("/v1/keys", json={"role": role, "name": f"{role} key"})
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


def _explain(client: TestClient, version: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {**EXPLAIN, **({"version": version} if version else {}), **extra}
    r = client.post("/v1/models/tiny_credit/explain", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_a_new_version_of_a_served_model_is_added(
    settings: Settings, v2: Path, tmp_path: Path
) -> None:
    with _running(settings) as client:
        before = client.get("/v1/models/tiny_credit").json()
        assert before["default_version"] == "1.0"
        assert [v["version"] for v in before["versions"]] == ["1.0"]

        r = client.post("/v1/models", files=_files(v2))
        assert r.status_code == 201, r.text
        assert r.json()["version"] == "2.0"
        assert r.json()["default_version"] == "2.0"  # the newest

        detail = client.get("/v1/models/tiny_credit").json()
        assert detail["version"] == detail["default_version"] == "2.0"
        assert detail["default_chosen"] is False
        versions = {v["version"]: v for v in detail["versions"]}
        assert list(versions) == ["2.0", "1.0"]  # newest first
        assert versions["2.0"]["default"]
        assert not versions["1.0"]["default"]
        assert versions["2.0"]["sha256"] != versions["1.0"]["sha256"]
        assert detail["sha256"] == versions["2.0"]["sha256"]
        one = client.get("/v1/models/tiny_credit", params={"version": "1.0"}).json()
        assert one["version"] == "1.0"
        assert one["sha256"] == versions["1.0"]["sha256"]
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed["tiny_credit"]["version"] == "2.0"
        assert [v["version"] for v in listed["tiny_credit"]["versions"]] == ["2.0", "1.0"]

        again = client.post("/v1/models", files=_files(v2))
        assert again.status_code == 409
        assert "2.0" in again.json()["error"]["message"]
        card = yaml.safe_load((v2 / "card.yaml").read_text())
        malformed = {
            **_files(v2),
            "card": ("card.yaml", yaml.safe_dump({**card, "version": "2 b"}).encode()),
        }
        refused = client.post("/v1/models", files=malformed)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["field"] == "card.version"

        # the extra version lives beside the first; the first's folder is unchanged
        stored = settings.models_dir / "tiny_credit" / "versions" / "2.0"
        assert (stored / "model.onnx").read_bytes() == (v2 / "model.onnx").read_bytes()
        assert (settings.models_dir / "tiny_credit" / "model.onnx").is_file()

    with _running(settings) as client:  # both served again after a restart
        detail = client.get("/v1/models/tiny_credit").json()
        assert [v["version"] for v in detail["versions"]] == ["2.0", "1.0"]
        assert detail["default_version"] == "2.0"


def test_two_versions_are_explained_side_by_side_and_the_records_say_which(
    client: TestClient,
) -> None:
    shas = {
        v["version"]: v["sha256"] for v in client.get("/v1/models/tiny_credit").json()["versions"]
    }
    explained = {version: _explain(client, version) for version in ("1.0", "2.0")}
    for version, body in explained.items():
        assert body["model"] == {"name": "tiny_credit", "version": version, "sha256": shas[version]}
        record = client.get(f"/v1/explanations/{body['id']}")
        assert record.status_code == 200, record.text
        assert record.json()["model"]["version"] == version
        assert record.json()["model"]["sha256"] == shas[version]
    # two models, two answers for the same case
    p1 = explained["1.0"]["explanations"][0]["prediction"]["probabilities"]["approved"]
    p2 = explained["2.0"]["explanations"][0]["prediction"]["probabilities"]["approved"]
    assert p1 != p2
    # no version: the default (the newest)
    assert _explain(client)["model"]["version"] == "2.0"

    for version in ("1.0", "2.0"):
        r = client.post(
            "/v1/models/tiny_credit/predict", json={"instances": [CASE], "version": version}
        )
        assert r.status_code == 200, r.text
        assert r.json()["model"]["version"] == version
        assert r.json()["model"]["sha256"] == shas[version]

    for path in ("explain", "predict"):
        unknown = client.post(
            f"/v1/models/tiny_credit/{path}", json={"instances": [CASE], "version": "9.9"}
        )
        assert unknown.status_code == 404, unknown.text
        error = unknown.json()["error"]
        assert "'9.9'" in error["message"]
        assert error["details"][0]["field"] == "version"
        malformed = client.post(
            f"/v1/models/tiny_credit/{path}", json={"instances": [CASE], "version": "../1.0"}
        )
        assert malformed.status_code == 422, malformed.text
    assert client.get("/v1/models/tiny_credit", params={"version": "9.9"}).status_code == 404


def test_the_default_an_admin_chose_is_used_and_kept_across_a_restart(
    settings: Settings, client: TestClient
) -> None:
    r = client.put("/v1/models/tiny_credit/default", json={"version": "1.0"})
    assert r.status_code == 200, r.text
    assert r.json()["default_version"] == "1.0"
    assert r.json()["default_chosen"] is True
    assert _explain(client)["model"]["version"] == "1.0"
    assert (
        client.post("/v1/models/tiny_credit/predict", json={"instances": [CASE]}).json()["model"][
            "version"
        ]
        == "1.0"
    )
    assert client.put("/v1/models/tiny_credit/default", json={"version": "9.9"}).status_code == 404
    assert client.put("/v1/models/no_such/default", json={"version": "1.0"}).status_code == 404
    assert client.put("/v1/models/tiny_credit/default", json={"version": "a/b"}).status_code == 422
    assert client.put("/v1/models/tiny_credit/default", json={}).status_code == 422

    with _running(settings) as restarted:
        detail = restarted.get("/v1/models/tiny_credit").json()
        assert detail["default_version"] == "1.0"
        assert detail["default_chosen"] is True
        assert _explain(restarted)["model"]["version"] == "1.0"
        back = restarted.put("/v1/models/tiny_credit/default", json={"version": None})
        assert back.status_code == 200, back.text
        assert back.json()["default_version"] == "2.0"
        assert back.json()["default_chosen"] is False

    with _running(settings) as again:
        assert again.get("/v1/models/tiny_credit").json()["default_version"] == "2.0"


def test_only_admins_manage_versions(client: TestClient, v2: Path) -> None:
    for role in ("app", "reviewer"):
        headers = _key(client, role)
        calls = [
            client.put("/v1/models/tiny_credit/default", json={"version": "1.0"}, headers=headers),
            client.delete("/v1/models/tiny_credit/versions/1.0", headers=headers),
            client.post("/v1/models", files=_files(v2), headers=headers),
        ]
        assert [r.status_code for r in calls] == [403, 403, 403], [r.text for r in calls]
    # nothing changed
    assert [v["version"] for v in client.get("/v1/models/tiny_credit").json()["versions"]] == [
        "2.0",
        "1.0",
    ]


def test_a_deleted_version_is_no_longer_served_but_its_records_still_replay(
    settings: Settings, client: TestClient
) -> None:
    reviewer = _key(client, "reviewer")
    record = _explain(client, "1.0")
    sha1 = record["model"]["sha256"]

    hold = client.post(
        "/v1/models/tiny_credit/hold", json={"reason": "litigation 42"}, headers=reviewer
    )
    assert hold.status_code == 201, hold.text
    held = client.delete("/v1/models/tiny_credit/versions/1.0")
    assert held.status_code == 409, held.text
    assert "legal hold" in held.json()["error"]["message"]
    assert _explain(client, "1.0")["model"]["version"] == "1.0"  # still served
    released = client.delete(f"/v1/holds/{hold.json()['id']}", headers=reviewer)
    assert released.status_code == 200, released.text

    assert client.delete("/v1/models/tiny_credit/versions/9.9").status_code == 404
    assert client.delete("/v1/models/tiny_credit/versions/-1").status_code == 422
    r = client.delete("/v1/models/tiny_credit/versions/1.0")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "tiny_credit",
        "version": "1.0",
        "sha256": sha1,
        "archived": True,  # a record names it
        "default_version": "2.0",
    }
    gone = client.post("/v1/models/tiny_credit/explain", json={**EXPLAIN, "version": "1.0"})
    assert gone.status_code == 404
    assert "'1.0'" in gone.json()["error"]["message"]
    assert [v["version"] for v in client.get("/v1/models/tiny_credit").json()["versions"]] == [
        "2.0"
    ]
    # off the models directory, into the archive
    folder = settings.models_dir / "tiny_credit"
    assert not (folder / "model.onnx").exists()
    assert (folder / "versions" / "2.0" / "model.onnx").is_file()
    archived = archive_folder(settings.data_dir, "tiny_credit", sha1)
    assert (archived / "model.onnx").is_file()

    replay = client.post(f"/v1/explanations/{record['id']}/replay", headers=reviewer)
    assert replay.status_code == 200, replay.text
    assert replay.json()["identical"] is True, replay.json()["differences"]

    with _running(settings) as restarted:  # the archive is found again after a restart
        assert (
            restarted.post(
                "/v1/models/tiny_credit/predict", json={"instances": [CASE], "version": "1.0"}
            ).status_code
            == 404
        )
        replay = restarted.post(f"/v1/explanations/{record['id']}/replay")
        assert replay.status_code == 200, replay.text
        assert replay.json()["identical"] is True, replay.json()["differences"]
        assert restarted.get("/v1/models/tiny_credit").json()["default_version"] == "2.0"

        # a version no record names is deleted outright; the last one takes the model away
        r = restarted.delete("/v1/models/tiny_credit/versions/2.0")
        assert r.status_code == 200, r.text
        assert r.json()["archived"] is False
        assert r.json()["default_version"] is None
        assert restarted.get("/v1/models/tiny_credit").status_code == 404
        assert not folder.exists()


def test_the_open_inference_protocol_serves_each_version(client: TestClient) -> None:
    meta = client.get("/v2/models/tiny_credit")
    assert meta.status_code == 200, meta.text
    assert meta.json()["versions"] == ["2.0", "1.0"]
    inputs = [
        {"name": "income", "datatype": "FP64", "shape": [1], "data": [CASE["income"]]},
        {"name": "debt", "datatype": "FP64", "shape": [1], "data": [CASE["debt"]]},
        {"name": "employment", "datatype": "BYTES", "shape": [1], "data": [CASE["employment"]]},
        {"name": "has_guarantor", "datatype": "INT64", "shape": [1], "data": [1]},
    ]
    answers = {}
    for version in ("1.0", "2.0"):
        r = client.post(f"/v2/models/tiny_credit/versions/{version}/infer", json={"inputs": inputs})
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == version
        answers[version] = {o["name"]: o["data"] for o in r.json()["outputs"]}
        v1 = client.post(
            "/v1/models/tiny_credit/predict", json={"instances": [CASE], "version": version}
        ).json()["predictions"][0]["probabilities"]
        assert answers[version]["probabilities"] == list(v1.values())
    assert answers["1.0"]["probabilities"] != answers["2.0"]["probabilities"]
    default = client.post("/v2/models/tiny_credit/infer", json={"inputs": inputs})
    assert default.json()["model_version"] == "2.0"
    unknown = client.post("/v2/models/tiny_credit/versions/9.9/infer", json={"inputs": inputs})
    assert unknown.status_code == 404
    assert "9.9" in unknown.json()["error"]
    assert client.get("/v2/models/tiny_credit/versions/1.0/ready").json()["ready"] is True


def test_jobs_explain_with_the_version_asked_for(
    settings: Settings, v2: Path, dask_scheduler: str
) -> None:
    jobbed = settings.model_copy(update={"dask_scheduler": dask_scheduler})
    rows = (settings.models_dir / "tiny_credit" / "background.csv").read_text().splitlines()[:4]
    data = ("\n".join(rows) + "\n").encode()
    with _running(jobbed) as client:
        assert client.post("/v1/models", files=_files(v2)).status_code == 201
        shas = {
            v["version"]: v["sha256"]
            for v in client.get("/v1/models/tiny_credit").json()["versions"]
        }
        ids = {}
        for version in ("1.0", None):
            spec = {"model": "tiny_credit", "method": "exact_shap"}
            if version:
                spec["version"] = version
            r = client.post("/v1/jobs", files={"data": ("rows.csv", data)},
                            data={"spec": json.dumps(spec)})  # fmt: skip
            assert r.status_code in (201, 202), r.text
            ids[version] = r.json()["id"]
        for version, expected in (("1.0", "1.0"), (None, "2.0")):
            job = wait_for(client, ids[version], timeout_s=300)
            assert job["status"] == "succeeded", job
            assert job["model"]["version"] == expected
            assert job["model"]["sha256"] == shas[expected]
        unknown = client.post(
            "/v1/jobs",
            files={"data": ("rows.csv", data)},
            data={"spec": json.dumps({"model": "tiny_credit", "version": "9.9"})},
        )
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"]["details"][0]["field"] == "version"
