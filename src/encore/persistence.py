"""One way to save any Encore model: a ``.npz`` archive of arrays plus a JSON header.

Every model family (recommenders, genre models, segment models, and the ones that come
later) saves through :func:`save_archive` and loads through :func:`load_archive`. The file
holds only arrays and JSON, and is read with ``allow_pickle=False``, so a model file can
never run code when it is loaded (unlike a pickle).

The header names the family (``encore-recommender``, ``encore-genre-model``, ...) and the
family's format version; loading a file of another family, or of a newer format than this
Encore reads, is refused with a :class:`~encore.errors.DataError` naming the file.

A model's state is a tree of plain values: dicts with string keys, lists, ``str``, ``int``,
``float``, ``bool``, ``None``, numpy arrays, scipy sparse matrices and pandas frames.
:func:`pack` splits such a tree into a JSON-able skeleton and a flat dict of arrays;
:func:`unpack` puts it back together.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.errors import DataError

log = logging.getLogger(__name__)

SUFFIX = ".npz"
_REF = "__array__"
_SPARSE = "__csr__"
_FRAME = "__frame__"
_TUPLE = "__tuple__"


def with_suffix(path: str | Path) -> Path:
    """``path`` with ``.npz`` appended when it has another suffix."""
    p = Path(path)
    return p if p.suffix == SUFFIX else p.with_name(p.name + SUFFIX)


def id_array(ids: np.ndarray) -> np.ndarray:
    """Ids as an array that loads without pickle (object arrays become unicode)."""
    return ids.astype(str) if ids.dtype == object else ids


def put_sparse(arrays: dict[str, np.ndarray], key: str, m: sp.spmatrix | sp.sparray) -> None:
    """Store a sparse matrix as four CSR arrays under ``key.*``."""
    m = sp.csr_matrix(m)
    arrays[f"{key}.data"] = m.data
    arrays[f"{key}.indices"] = m.indices
    arrays[f"{key}.indptr"] = m.indptr
    arrays[f"{key}.shape"] = np.asarray(m.shape, dtype=np.int64)


def get_sparse(data: dict[str, np.ndarray], key: str) -> sp.csr_matrix:
    """The CSR matrix stored by :func:`put_sparse` under ``key``."""
    shape = tuple(int(x) for x in data[f"{key}.shape"])
    return sp.csr_matrix(
        (data[f"{key}.data"], data[f"{key}.indices"], data[f"{key}.indptr"]), shape=shape
    )


def pack(value: Any, arrays: dict[str, np.ndarray], key: str = "state") -> Any:
    """The JSON skeleton of ``value``; its arrays are added to ``arrays`` under ``key.*``.

    Raises
    ------
    TypeError
        A value of a type the archive cannot hold without pickle.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            value = value.astype(str)
        arrays[key] = value
        return {_REF: key}
    if sp.issparse(value):
        put_sparse(arrays, key, value)
        return {_SPARSE: key}
    if isinstance(value, pd.DataFrame):
        cols = [str(c) for c in value.columns]
        for i, c in enumerate(value.columns):
            col = value[c].to_numpy()
            arrays[f"{key}.{i}"] = col.astype(str) if col.dtype == object else col
        return {_FRAME: key, "columns": cols}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{key}: dict keys must be strings, not {type(k).__name__}")
            out[k] = pack(v, arrays, f"{key}.{k}")
        return out
    if isinstance(value, list | tuple):
        items = [pack(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    raise TypeError(f"{key}: cannot save a value of type {type(value).__name__}")


def unpack(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild the value that :func:`pack` split into ``tree`` and ``arrays``."""
    if isinstance(tree, list):
        return [unpack(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if _REF in tree:
        return arrays[tree[_REF]]
    if _SPARSE in tree:
        return get_sparse(arrays, tree[_SPARSE])
    if _FRAME in tree:
        key = tree[_FRAME]
        return pd.DataFrame({c: arrays[f"{key}.{i}"] for i, c in enumerate(tree["columns"])})
    if _TUPLE in tree:
        return tuple(unpack(v, arrays) for v in tree[_TUPLE])
    return {k: unpack(v, arrays) for k, v in tree.items()}


def save_archive(
    path: str | Path,
    *,
    family: str,
    format_version: int,
    header: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> Path:
    """Write ``arrays`` and a JSON ``header`` (family and version added) to one ``.npz``.

    Returns
    -------
    pathlib.Path
        The file written (``.npz`` is appended when missing).
    """
    from encore import __version__

    path = with_suffix(path)
    full = {
        "format": family,
        "format_version": format_version,
        "encore_version": __version__,
        **header,
    }
    payload = dict(arrays)
    payload["header"] = np.asarray(json.dumps(full))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, **payload)  # type: ignore[arg-type]
    tmp.replace(path)  # a reader never sees half a file
    log.info("saved %s to %s", family, path)
    return path


def load_archive(
    path: str | Path, *, family: str, format_version: int, what: str = "model"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read an archive written by :func:`save_archive`: ``(header, arrays)``.

    Raises
    ------
    DataError
        The file is missing or unreadable, is not an Encore archive, belongs to another
        family, or has a newer format version than ``format_version``.
    """
    p = Path(path)
    if not p.exists() and with_suffix(p).exists():
        p = with_suffix(p)
    if not p.exists():
        raise DataError(f"no such {what} file", file=str(p))
    try:
        with np.load(p, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"not a readable Encore {what} file: {exc}",
            file=str(p),
            hint="files written by older Encore versions with pickle cannot be read; save again",
        ) from exc
    if "header" not in data:
        raise DataError(f"not an Encore {what} file (no header)", file=str(p))
    try:
        header = json.loads(str(data.pop("header")))
    except json.JSONDecodeError as exc:
        raise DataError(f"damaged Encore {what} file header: {exc}", file=str(p)) from exc
    if not isinstance(header, dict) or not str(header.get("format", "")).startswith("encore-"):
        raise DataError(f"not an Encore {what} file", file=str(p))
    if header["format"] != family:
        raise DataError(
            f"the file holds an {header['format']!r} archive, not an {family!r} one",
            file=str(p),
        )
    try:
        version = int(header.get("format_version", 0))
    except (TypeError, ValueError):
        version = -1
    if version < 1:
        raise DataError(f"damaged Encore {what} file (bad format version)", file=str(p))
    if version > format_version:
        raise DataError(
            f"{what} file format {version} is newer than this Encore reads ({format_version})",
            file=str(p),
            hint="upgrade Encore, or save the model again with this version",
        )
    return header, data
