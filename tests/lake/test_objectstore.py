"""Lakes on an object store: URIs, export with the manifest last, DuckDB reads, clear errors.

The object store is moto's S3 server on the loopback address (``moto[server]``: no
network, no cloud account); the client is ``s3fs``, as in production. The lake here is
small on purpose: 4,000 synthetic events over 12 days (seed 5; structure only, no claim
about music), 12 day partitions, so every query stays a few HTTP requests per file.
Spark's S3A connector is not in pyspark's jars (and cannot be downloaded offline): the
Spark test checks the clear error and the settings handed to it, not a read from S3.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from encore.analytics import api
from encore.cli.main import app
from encore.data.store import Store
from encore.data.synthetic import generate
from encore.errors import ConfigError, DataError
from encore.lake.objectstore import (
    export_lake_to,
    parse_location,
    read_lake_manifest,
    spark_s3a_conf,
)
from encore.lake.store import open_lake

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

runner = CliRunner()

WIDE = {"start": "2000-01-01", "end": "2030-12-31"}
#: Two questions: the transport is under test here (tests/lake/test_lake.py checks every
#: question on a local lake against the store).
CASES: list[tuple[str, dict[str, Any]]] = [
    ("genres", {"by": "minutes", "include_skips": True}),
    ("top-tracks", {"n": 5}),
]
BUCKET = "encore-test"
#: Never ask the cloud's instance metadata service (a non-loopback address) for credentials.
NO_CLOUD = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_MAX_ATTEMPTS": "1",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with one bucket; the AWS variables point at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        **NO_CLOUD,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield env["AWS_ENDPOINT_URL"]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("objectstore") / "small.duckdb"
    with Store(path) as store:
        generate(store, 4_000, seed=5, start=datetime(2024, 5, 1), days=12)
    return path


@pytest.fixture(scope="module")
def s3_lake(small_db: Path, s3: str) -> str:
    uri = f"s3://{BUCKET}/lakes/small.lake"
    with Store(small_db, read_only=True) as store:
        export_lake_to(store, uri)
    return uri


def _objects(prefix: str) -> set[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    root = prefix.removeprefix("s3://")
    return {f[len(root) + 1 :] for f in fs.find(root)}


def test_locations() -> None:
    s3 = parse_location("s3a://bucket/a/b.lake/")
    assert (s3.uri, s3.store, s3.bucket, s3.key) == (
        "s3://bucket/a/b.lake",
        "s3",
        "bucket",
        "a/b.lake",
    )
    assert s3.join("manifest.json") == "s3://bucket/a/b.lake/manifest.json"
    assert s3.spark("events") == "s3a://bucket/a/b.lake/events"
    gs = parse_location("gcs://b/x")
    assert gs.uri == "gs://b/x" and gs.spark() == "gs://b/x"
    assert parse_location("file:///data/x.lake").local == Path("/data/x.lake")
    assert parse_location("rel/x.lake").local == Path("rel/x.lake")
    assert not parse_location(Path("/x")).remote
    for bad, words in [
        ("hdfs://nn/x", "not hdfs://"),
        ("s3:///x", "no bucket"),
        ("file://host/x", "names no host"),
    ]:
        with pytest.raises(ConfigError, match=words):
            parse_location(bad)


def test_export_writes_tagged_files_and_the_manifest(s3_lake: str, small_db: Path) -> None:
    manifest = read_lake_manifest(s3_lake)
    with Store(small_db, read_only=True) as store:
        assert manifest["events"]["rows"] == store.scalar("SELECT count(*) FROM events") == 4_000
    files = [f["path"] for f in manifest["events"]["files"]]
    assert len(files) == manifest["events"]["partitions"] >= 12
    tag = files[0].rsplit("-", 2)[-2:]  # data_0-<time>-<random>.parquet
    assert all(f.startswith("events/date=") and f.endswith("-".join(tag)) for f in files)
    listed = set(files) | {t["path"] for t in manifest["tables"].values()}
    assert _objects(s3_lake) == listed | {"manifest.json"}


def test_duckdb_reads_the_s3_lake_like_a_local_one(
    s3_lake: str, small_db: Path, tmp_path: Path
) -> None:
    local = tmp_path / "small.lake"
    with Store(small_db, read_only=True) as store:
        export_lake_to(store, local)
    with open_lake(s3_lake) as remote, open_lake(local) as here:
        assert remote.path == s3_lake
        for what, opts in CASES:
            want = api.run(here, what, **{**WIDE, **opts})
            got = api.run(remote, what, **{**WIDE, **opts})
            assert not want.empty, (what, opts)
            assert_frame_equal(got, want)


def test_readers_trust_only_the_manifest(s3_lake: str) -> None:
    """An unlisted events file (an export in progress, or a killed one) is never read."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    stray = f"{s3_lake}/events/date=2024-05-03/data_0-stray.parquet"
    with open_lake(s3_lake) as lake:
        before = lake.scalar("SELECT count(*) FROM events")
        fs.pipe_file(stray, b"not parquet at all")
    try:
        with open_lake(s3_lake) as lake:
            assert lake.scalar("SELECT count(*) FROM events") == before == 4_000
    finally:
        fs.rm(stray)


def test_reexport_swaps_the_manifest_then_removes_the_old_files(
    small_db: Path, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    uri = f"s3://{BUCKET}/lakes/swap.lake"
    with Store(small_db, read_only=True) as store:
        export_lake_to(store, uri)
        first = _objects(uri)
        # a failed upload halfway: the lake is the first one, and nothing of the attempt stays
        real_put = s3fs.S3FileSystem._put_file  # the sync put_file calls it
        calls = {"n": 0}

        async def failing_put(self: Any, lpath: str, rpath: str, *a: Any, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] > 5:
                raise OSError("connection reset (simulated)")
            return await real_put(self, lpath, rpath, *a, **kw)

        monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", failing_put)
        with pytest.raises(OSError, match="simulated"):
            export_lake_to(store, uri)
        assert _objects(uri) == first
        monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", real_put)
        with open_lake(uri) as lake:
            assert lake.scalar("SELECT count(*) FROM events") == 4_000
        # a successful one: new files, new manifest, the old files gone
        export_lake_to(store, uri)
    second = _objects(uri)
    assert second & first == {"manifest.json"}
    manifest = read_lake_manifest(uri)
    assert len(second) == 1 + len(manifest["events"]["files"]) + len(manifest["tables"])


def test_cli_export_and_analytics_on_s3(small_db: Path, s3: str) -> None:
    uri = f"s3://{BUCKET}/cli/small.lake"
    res = runner.invoke(app, ["export", "events", "--to", uri, "--db", str(small_db), "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["lake"] == uri
    args = ["analytics", "top-artists", "--from", "2024-05-01", "--to", "2024-05-12", "-f", "json"]
    local = runner.invoke(app, [*args, "--db", str(small_db)])
    remote = runner.invoke(app, [*args, "--db", str(small_db), "--lake", uri])
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout)


def test_export_refuses_a_prefix_that_is_not_a_lake(small_db: Path, s3: str) -> None:
    import s3fs

    s3fs.S3FileSystem(skip_instance_cache=True).pipe_file(f"{BUCKET}/other/notes.txt", b"x")
    res = runner.invoke(
        app, ["export", "events", "--to", f"s3://{BUCKET}/other", "--db", str(small_db)]
    )
    assert res.exit_code == 64, res.output
    said = " ".join(res.output.split())
    assert "s3://encore-test/other" in said and "no Encore lake manifest" in said
    assert _objects(f"s3://{BUCKET}/other") == {"notes.txt"}


@pytest.mark.parametrize(
    ("uri", "code", "words"),
    [
        ("s3://no-such-bucket/x.lake", 65, "bucket does not exist"),
        (f"s3://{BUCKET}/nothing-here", 65, "no lake manifest"),
    ],
)
def test_missing_lake_or_bucket(small_db: Path, s3: str, uri: str, code: int, words: str) -> None:
    res = runner.invoke(app, ["analytics", "genres", "--db", str(small_db), "--lake", uri])
    assert res.exit_code == code, res.output
    said = " ".join(res.output.split())
    assert uri in said and words in said
    assert "Traceback" not in res.output


def test_no_credentials_or_no_store(
    small_db: Path, s3_lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    res = runner.invoke(app, ["analytics", "genres", "--db", str(small_db), "--lake", s3_lake])
    assert res.exit_code == 64, res.output
    said = " ".join(res.output.split())
    assert s3_lake in said and "no credentials" in said
    with pytest.raises(ConfigError, match="no credentials"), Store(small_db, read_only=True) as st:
        export_lake_to(st, f"s3://{BUCKET}/lakes/new.lake")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with (
        pytest.raises(DataError, match="the bucket does not exist"),
        Store(small_db, read_only=True) as st,
    ):
        export_lake_to(st, "s3://no-such-bucket/x.lake")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ConfigError, match="cannot reach the object store") as info:
        open_lake(s3_lake)
    assert s3_lake in str(info.value)


def test_missing_client_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from encore.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "gcsfs", None)  # import gcsfs fails
    with pytest.raises(MissingDependencyError, match="gcsfs"):
        open_lake("gs://bucket/x.lake")


def test_spark_s3a_settings_follow_the_endpoint() -> None:
    assert spark_s3a_conf({}) == {}
    conf = spark_s3a_conf({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert conf == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
    }
    both = {"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "https://s3.example"}
    assert spark_s3a_conf(both)["spark.hadoop.fs.s3a.endpoint"] == "https://s3.example"
    assert spark_s3a_conf(both)["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"


def test_spark_conf_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    from encore.lake.spark import parse_spark_conf

    text = "spark.executor.memory=8g 'spark.driver.extraJavaOptions=-Xss4m -Dx=y'"
    assert parse_spark_conf(text) == {
        "spark.executor.memory": "8g",
        "spark.driver.extraJavaOptions": "-Xss4m -Dx=y",
    }
    assert parse_spark_conf(["spark.a=1=2"]) == {"spark.a": "1=2"}
    for bad in ("executor.memory=8g", "spark.x", "'unclosed"):
        with pytest.raises(ConfigError, match="--spark-conf"):
            parse_spark_conf(bad)
    # refused before any Spark starts
    from encore.lake.spark import spark_session

    monkeypatch.setenv("ENCORE_SPARK_CONF", "spark.ui.enabled=false nope")
    with pytest.raises(ConfigError, match="ENCORE_SPARK_CONF: 'nope'"):
        spark_session()
    base = ["analytics", "genres", "--db", "x.duckdb", "--spark-conf"]
    res = runner.invoke(app, [*base, "executor.memory=8g", "--engine", "spark"])
    assert res.exit_code == 64 and "not KEY=VALUE" in " ".join(res.output.split())
    res = runner.invoke(app, [*base, "spark.executor.memory=8g"])
    assert res.exit_code == 64 and "--spark-conf is for --engine spark" in res.output


@pytest.mark.spark
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_spark_without_the_s3a_connector_says_what_to_add(s3_lake: str, spark: Any) -> None:
    """pyspark ships no hadoop-aws: reading s3a:// fails with the connector to add."""
    from encore.lake.spark import SparkLakeStore

    with pytest.raises(ConfigError) as info:
        SparkLakeStore(s3_lake, spark)
    text = str(info.value)
    assert s3_lake.replace("s3://", "s3a://") in text
    assert "hadoop-aws" in text and "spark.jars.packages" in text


def test_data_error_names_the_damaged_manifest(s3_lake: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    uri = f"s3://{BUCKET}/damaged.lake"
    fs.pipe_file(f"{uri}/manifest.json", b'{"format": "encore-lake", "version": 1,\n oops}')
    with pytest.raises(DataError) as info:
        open_lake(uri)
    assert f"{uri}/manifest.json" in str(info.value) and "line 2" in str(info.value)
