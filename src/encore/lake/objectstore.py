"""Lakes on object stores: ``s3://`` and ``gs://`` locations next to local folders.

A lake location (``--lake``, ``encore export events --to``, :func:`~encore.lake.store.open_lake`,
``--engine spark``) is a local path, a ``file://`` URI, or an object-store URI:

========================  ======================  ===========================  =================
location                  Python client (driver)  Spark (executors)            extra
========================  ======================  ===========================  =================
``/data/x.lake``          the file system         the path                     (none)
``file:///data/x.lake``   the file system         the path                     (none)
``s3://bucket/x.lake``    ``s3fs``                ``s3a://bucket/x.lake``      ``encore[lake]``
``gs://bucket/x.lake``    ``gcsfs``               ``gs://bucket/x.lake``       ``pip install gcsfs``
========================  ======================  ===========================  =================

``s3a://`` and ``gcs://`` are accepted as spellings of ``s3://`` and ``gs://``.

**Credentials and endpoints** come from each client's own configuration, never from an
Encore setting: for S3 the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role) and ``AWS_ENDPOINT_URL``
(``AWS_ENDPOINT_URL_S3``) for an S3-compatible store (MinIO, Ceph, ...); for GCS
``GOOGLE_APPLICATION_CREDENTIALS`` or the machine's account. Spark's S3A connector reads
the same AWS variables; the endpoint is handed to it by :func:`spark_s3a_conf`.

**Reading.** DuckDB reads an object-store lake through the fsspec client registered on
its connection (``register_filesystem``: no DuckDB extension, which an offline machine
could not install). Readers trust only the manifest: they read exactly the files it lists
(never a glob of the prefix), so files that are not listed (an export in progress, or
one that was killed) are ignored.

**Writing** (:func:`export_lake_to`). An object store has no rename, so the local
folder swap of :func:`~encore.lake.export.export_lake` becomes: write the lake to a local
temporary folder, upload every data file under a name no earlier export used (the
export's tag in the file name), write ``manifest.json`` last (a single PUT: readers see
the old manifest or the new one, never a mix), then delete the files the previous
manifest listed. What differs from a local lake: a reader that read the old manifest just
before the swap and is still scanning can find its files deleted under it (it fails and a
new read sees the new lake); a failed upload deletes what it had uploaded, but a killed
process leaves its files behind (unlisted, so ignored).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from encore.errors import ConfigError, DataError, EncoreError, MissingDependencyError, SchemaError

log = logging.getLogger(__name__)

#: URI scheme -> the store it names (``s3`` or ``gs``).
SCHEMES: dict[str, str] = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs"}
#: Store -> (Python client package, Spark's scheme for it).
CLIENTS: dict[str, tuple[str, str]] = {"s3": ("s3fs", "s3a"), "gs": ("gcsfs", "gs")}
#: The Hadoop connector Spark needs per store (for the error hint and the docs).
SPARK_PACKAGES: dict[str, str] = {
    "s3": "org.apache.hadoop:hadoop-aws:<the Hadoop version of your Spark, e.g. 3.5.0>",
    "gs": "com.google.cloud.bigdataoss:gcs-connector:<version>-shaded",
}


@dataclass(frozen=True)
class LakeLocation:
    """Where a lake lives: a local folder or an object-store prefix.

    Attributes
    ----------
    uri:
        The location as a user would write it again (``s3://bucket/key`` or the local path).
    store:
        ``s3`` or ``gs``; ``None`` for a local folder.
    bucket, key:
        The bucket and the key prefix (no slash at either end); empty for a local folder.
    local:
        The folder, for a local lake.
    """

    uri: str
    store: str | None = None
    bucket: str = ""
    key: str = ""
    local: Path | None = None

    @property
    def remote(self) -> bool:
        """Whether the lake is on an object store."""
        return self.store is not None

    def join(self, rel: str = "") -> str:
        """The location of ``rel`` (a path relative to the lake, ``/``-separated)."""
        if self.local is not None:
            return str(self.local / rel) if rel else str(self.local)
        key = "/".join(p for p in (self.key, rel.strip("/")) if p)
        return f"{self.store}://{self.bucket}/{key}" if key else f"{self.store}://{self.bucket}"

    def spark(self, rel: str = "") -> str:
        """The location of ``rel`` as Spark's Hadoop file systems name it (``s3a://``)."""
        where = self.join(rel)
        if self.store is None:
            return where
        scheme = CLIENTS[self.store][1]
        return scheme + where[len(self.store) :]

    def __str__(self) -> str:
        return self.uri


def parse_location(where: str | Path | LakeLocation) -> LakeLocation:
    """Parse a lake location (see the module docstring).

    Raises
    ------
    ConfigError
        A scheme Encore cannot read (``hdfs://``, ``http://``, ...), or an object-store URI
        without a bucket.
    """
    if isinstance(where, LakeLocation):
        return where
    if isinstance(where, Path):
        return LakeLocation(uri=str(where), local=where)
    text = str(where).strip()
    if "://" not in text:
        return LakeLocation(uri=text, local=Path(text))
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"{text}: a file:// URI names no host (file:///path)")
        path = Path(unquote(parsed.path))
        return LakeLocation(uri=str(path), local=path)
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{text}: Encore reads lakes on local paths, file://, s3:// and gs://, not {scheme}://",
            hint="on HDFS or another store, copy the lake to one of these, or mount it",
        )
    if not parsed.netloc:
        raise ConfigError(f"{text}: no bucket in the URI (expected {scheme}://bucket/prefix)")
    store = SCHEMES[scheme]
    key = parsed.path.strip("/")
    uri = f"{store}://{parsed.netloc}" + (f"/{key}" if key else "")
    return LakeLocation(uri=uri, store=store, bucket=parsed.netloc, key=key)


def filesystem(loc: LakeLocation) -> Any:
    """The fsspec file system of an object-store location (``s3fs`` / ``gcsfs``).

    Raises
    ------
    MissingDependencyError
        The client package is not installed (the ``lake`` extra).
    """
    if loc.store is None:
        raise ValueError("a local lake needs no fsspec file system")
    if loc.store == "s3":
        try:
            import s3fs
        except ImportError as exc:
            raise MissingDependencyError("s3fs", "lake") from exc
        # a new client each time: credentials and endpoint are read from the environment now
        return s3fs.S3FileSystem(skip_instance_cache=True)
    try:
        import gcsfs
    except ImportError as exc:
        err = MissingDependencyError("gcsfs", "lake")
        # not in the extra: gcsfs is released in step with fsspec, pick the matching one
        err.hint = "install it with: pip install gcsfs==<the version of your fsspec>"
        raise err from exc
    return gcsfs.GCSFileSystem(skip_instance_cache=True)


# ------------------------------------------------------------------ errors
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def storage_error(exc: BaseException, uri: str) -> EncoreError | None:
    """The Encore error for a failure of an object-store client, or ``None`` if it is not one.

    Missing credentials, an unreachable endpoint and a refused request are configuration
    (exit 64); a missing bucket or object is data that is not there (exit 65).
    """
    for err in _chain(exc):
        name = type(err).__name__
        text = str(err)
        if name in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
            return ConfigError(
                f"{uri}: no credentials for the object store ({text})",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for "
                "s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://",
            )
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError"):
            return ConfigError(
                f"{uri}: cannot reach the object store ({text})",
                hint="check the network and AWS_ENDPOINT_URL (an S3-compatible store's address)",
            )
        if isinstance(err, PermissionError) or name in ("AccessDenied", "Forbidden"):
            return ConfigError(
                f"{uri}: the object store refused access ({text})",
                hint="check the credentials and the bucket's permissions",
            )
        if isinstance(err, FileNotFoundError) and _no_bucket(err):
            return DataError(f"the bucket does not exist ({text})", file=uri)
    return None


def _no_bucket(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "bucket does not exist" in text or "nosuchbucket" in text


@contextmanager
def storage_errors(uri: str) -> Iterator[None]:
    """Turn an object-store client's failure into an Encore error naming ``uri``."""
    try:
        yield
    except EncoreError:
        raise
    except Exception as exc:
        mapped = storage_error(exc, uri)
        if mapped is None:
            raise
        raise mapped from exc


# ------------------------------------------------------------------ reading
def read_lake_manifest(where: str | Path | LakeLocation) -> dict[str, Any]:
    """Read and check a lake's manifest, local or on an object store.

    A local lake is checked by :func:`encore.lake.export.read_manifest` (every listed file
    present, no unlisted events file). On an object store the same checks of the
    manifest's content apply, every listed file must exist, and unlisted files are allowed
    (they are never read: see the module docstring).

    Raises
    ------
    DataError
        No manifest at the location, a damaged one, a listed file missing, no bucket.
    SchemaError
        The lake is newer than this Encore.
    ConfigError
        No credentials, an unreachable store, access refused.
    """
    from encore.lake.export import MANIFEST, read_manifest

    loc = parse_location(where)
    if loc.local is not None:
        return read_manifest(loc.local)
    fs = filesystem(loc)
    file = loc.join(MANIFEST)
    with storage_errors(loc.uri):
        try:
            raw = fs.cat_file(file)
        except FileNotFoundError as exc:
            if _no_bucket(exc):
                raise
            raise DataError(
                "no lake manifest (manifest.json) here",
                file=loc.uri,
                hint="write a lake with `encore export events --to URI`",
            ) from exc
        manifest = _check_manifest_text(raw, file)
        present = _present(fs, loc)
    listed = [f["path"] for f in manifest["events"].get("files", [])]
    listed += [spec["path"] for spec in manifest["tables"].values()]
    for rel in listed:
        if rel not in present:
            raise DataError("a file the manifest lists is missing", file=loc.join(rel))
    return manifest


def _check_manifest_text(raw: bytes, file: str) -> dict[str, Any]:
    """The manifest's content checks of :func:`~encore.lake.export.read_manifest`, on bytes."""
    from encore.lake.export import MANIFEST, read_manifest

    with tempfile.TemporaryDirectory(prefix="encore-manifest-") as tmp:
        (Path(tmp) / MANIFEST).write_bytes(raw)
        try:
            return read_manifest(tmp, check_files=False)
        except DataError as exc:
            raise DataError(
                exc.reason, file=file, line=exc.line, field=exc.field, hint=exc.hint
            ) from None
        except SchemaError:
            raise


def _present(fs: Any, loc: LakeLocation) -> set[str]:
    """Every object under the lake's prefix, relative to it."""
    prefix = f"{loc.bucket}/{loc.key}".rstrip("/")
    try:
        found = fs.find(prefix)
    except FileNotFoundError:
        return set()
    return {PurePosixPath(f).relative_to(prefix).as_posix() for f in found}


def register(con: Any, loc: LakeLocation) -> None:
    """Let a DuckDB connection read ``loc`` (the fsspec client, for an object store)."""
    if loc.remote:
        con.register_filesystem(filesystem(loc))


# ------------------------------------------------------------------ writing
@dataclass(frozen=True)
class ExportedLake:
    """What :func:`export_lake_to` wrote, and where."""

    uri: str
    events: int
    partitions: int
    tables: int
    bytes: int
    seconds: float


def export_lake_to(
    store: Any,
    where: str | Path | LakeLocation,
    *,
    progress: Callable[[str], None] | None = None,
) -> ExportedLake:
    """Write the store as a lake at a local folder or an object-store prefix.

    A local folder is :func:`~encore.lake.export.export_lake` (atomic folder swap). On an
    object store: see the module docstring (tagged file names, the manifest last, then the
    old files deleted).

    Raises
    ------
    ConfigError
        The target holds objects but no lake manifest; no credentials; unreachable store.
    DataError
        The bucket does not exist.
    """
    from encore.lake.export import MANIFEST, export_lake

    loc = parse_location(where)
    if loc.local is not None:
        s = export_lake(store, loc.local, progress=progress)
        return ExportedLake(str(s.path), s.events, s.partitions, s.tables, s.bytes, s.seconds)
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    fs = filesystem(loc)
    with storage_errors(loc.uri):
        _replaceable_remote(fs, loc)
    tmp = Path(tempfile.mkdtemp(prefix="encore-lake-"))
    try:
        summary = export_lake(store, tmp / "lake", progress=progress)
        manifest = json.loads((summary.path / MANIFEST).read_text(encoding="utf-8"))
        tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        uploads = _tagged(manifest, tag)
        say(f"uploading {len(uploads):,} files to {loc.uri}")
        done: list[str] = []
        with storage_errors(loc.uri):
            try:
                for old_rel, new_rel in uploads:
                    fs.put_file(str(summary.path / old_rel), loc.join(new_rel))
                    done.append(new_rel)
                previous = _old_files(fs, loc)  # read again just before the swap
                say("writing the manifest")
                body = json.dumps(manifest, indent=2) + "\n"
                fs.pipe_file(loc.join(MANIFEST), body.encode("utf-8"))
            except BaseException:
                _remove(fs, [loc.join(r) for r in done])
                raise
        listed = {new for _old, new in uploads}
        stale = sorted(previous - listed)
        if stale:
            say(f"removing {len(stale):,} files of the previous lake")
            _remove(fs, [loc.join(r) for r in stale])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = ExportedLake(
        loc.uri,
        summary.events,
        summary.partitions,
        summary.tables,
        summary.bytes,
        time.perf_counter() - started,
    )
    log.info("lake written: %s", out)
    return out


def _tagged(manifest: dict[str, Any], tag: str) -> list[tuple[str, str]]:
    """Give every data file of the manifest a name with the export's tag (in place).

    Returns the (local, remote) relative paths to upload.
    """
    pairs = []
    specs = list(manifest["events"].get("files", [])) + list(manifest["tables"].values())
    for spec in specs:
        rel = PurePosixPath(spec["path"])
        new = rel.with_name(f"{rel.stem}-{tag}{rel.suffix}").as_posix()
        pairs.append((spec["path"], new))
        spec["path"] = new
    return pairs


def _replaceable_remote(fs: Any, loc: LakeLocation) -> None:
    from encore.lake.export import MANIFEST

    try:
        fs.info(loc.join(MANIFEST))
        return  # a lake: replaced
    except FileNotFoundError as exc:
        if _no_bucket(exc):
            raise DataError(
                "the bucket does not exist", file=loc.uri, hint="create it first, or choose another"
            ) from exc
    if _present(fs, loc):
        raise ConfigError(
            f"--to {loc.uri}: the prefix holds objects and no Encore lake manifest",
            hint="choose a new or empty prefix (an existing lake is replaced)",
        )


def _old_files(fs: Any, loc: LakeLocation) -> set[str]:
    """The data files the lake's current manifest lists (none if there is no lake)."""
    from encore.lake.export import MANIFEST

    try:
        old = json.loads(fs.cat_file(loc.join(MANIFEST)))
        files = {f["path"] for f in old["events"].get("files", [])}
        return files | {spec["path"] for spec in old["tables"].values()}
    except FileNotFoundError:
        return set()
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s: the previous manifest is unreadable; its files are left", loc.uri)
        return set()


def _remove(fs: Any, paths: list[str]) -> None:
    """Delete objects, best effort (a failure is logged, not raised)."""
    if not paths:
        return
    try:
        fs.rm(paths)
    except Exception as exc:
        log.warning("could not delete %d object(s), e.g. %s: %s", len(paths), paths[0], exc)


# ------------------------------------------------------------------ Spark
def spark_s3a_conf(env: dict[str, str] | None = None) -> dict[str, str]:
    """S3A settings that make Spark read the same S3-compatible store as the driver.

    From ``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``): the endpoint, path-style
    access (what MinIO and most S3-compatible stores need) and, for ``http://``, no TLS.
    Credentials are left to S3A's default chain, which reads the same AWS variables.
    """
    env = dict(os.environ) if env is None else env
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    return {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
            not endpoint.lower().startswith("http://")
        ).lower(),
    }


def spark_read_error(exc: BaseException, loc: LakeLocation) -> EncoreError | None:
    """The Encore error for Spark failing to open a lake on an object store, if it is one."""
    if not loc.remote:
        return None
    text = " ".join(str(e) for e in _chain(exc))
    assert loc.store is not None
    scheme = CLIENTS[loc.store][1]
    if (
        "No FileSystem for scheme" in text
        or "ClassNotFoundException" in text
        or "S3AFileSystem not found" in text
    ):
        return ConfigError(
            f"{loc.spark()}: Spark has no {scheme}:// file system (its Hadoop connector "
            "is not on the classpath)",
            hint=f"add the connector: spark-submit --packages {SPARK_PACKAGES[loc.store]}, "
            f"or ENCORE_SPARK_CONF='spark.jars.packages={SPARK_PACKAGES[loc.store]}' "
            "(see docs/scaling.md)",
        )
    if "AccessDenied" in text or "403" in text or "NoAuthWithAWSException" in text:
        return ConfigError(
            f"{loc.spark()}: Spark was refused access to the object store",
            hint="give Spark credentials: the AWS variables, or spark.hadoop.fs.s3a.* settings",
        )
    return None
