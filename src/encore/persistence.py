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


# ----------------------------------------------------------------------------- helpers
# Small building blocks for model families whose state holds library objects: each turns
# one kind of object into plain values and arrays (for :func:`pack`) and back.

_DTYPE = "__dtype__"


def text_array(text: str) -> np.ndarray:
    """A (possibly long) text as a ``uint8`` array of its UTF-8 bytes (compresses well)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def array_text(array: np.ndarray) -> str:
    """The text stored by :func:`text_array`."""
    return np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8")


def _plain_param(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, np.generic):
        return {_DTYPE: np.dtype(value).name}
    if isinstance(value, np.dtype):
        return {_DTYPE: value.name, "instance": True}
    return value


def _param_value(value: Any) -> Any:
    if isinstance(value, dict) and _DTYPE in value:
        dtype = np.dtype(value[_DTYPE])
        return dtype if value.get("instance") else dtype.type
    return value


def estimator_state(estimator: Any, fitted: Any) -> dict[str, Any]:
    """The constructor parameters and the named fitted attributes of a scikit-learn estimator.

    ``fitted`` names the attributes that the estimator's ``transform``/``predict`` reads
    (e.g. ``("components_", "n_features_in_")``); parameters that are numpy scalar types
    (``dtype=np.float32``) are written by name. The class itself is not recorded: the
    loader knows which class it saved and passes it to :func:`estimator_from_state`, so a
    file can never choose what gets imported.
    """
    params = {k: _plain_param(v) for k, v in estimator.get_params(deep=False).items()}
    return {"params": params, "fitted": {name: getattr(estimator, name) for name in fitted}}


def estimator_from_state(cls: type, state: dict[str, Any]) -> Any:
    """An estimator of class ``cls`` rebuilt from :func:`estimator_state` (no refit)."""
    params = {k: _param_value(v) for k, v in state["params"].items()}
    estimator = cls(**params)
    for name, value in state["fitted"].items():
        setattr(estimator, name, value)
    return estimator


def _column_values(col: pd.Series) -> Any:
    if isinstance(col.dtype, np.dtype) and col.dtype != object:
        return col.to_numpy()
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        return [None if pd.isna(v) else v.item() if isinstance(v, np.generic) else v for v in col]
    raise TypeError(f"cannot save a column of dtype {col.dtype}")


def frame_tree(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as a tree for :func:`pack` that keeps every column's dtype and missing values.

    Numeric, boolean and datetime columns become arrays; text and object columns become
    lists (missing values as ``None``), so a text column with gaps comes back as it was
    (:func:`pack` alone writes frames as plain arrays, which suits all-numeric frames). A
    non-default index is kept the same way.

    Raises
    ------
    TypeError
        A column of another extension dtype (categorical, nullable integer, ...).
    """
    index = frame.index
    default_index = isinstance(index, pd.RangeIndex) and index.equals(pd.RangeIndex(len(frame)))
    return {
        "rows": len(frame),
        "columns": list(frame.columns),
        "dtypes": [str(frame[c].dtype) for c in frame.columns],
        "values": [_column_values(frame.iloc[:, i]) for i in range(frame.shape[1])],
        "index": None
        if default_index
        else {
            "name": index.name,
            "dtype": str(index.dtype),
            "values": _column_values(index.to_series()),
        },
    }


def _series(values: Any, dtype: str) -> pd.Series:
    if isinstance(values, np.ndarray):
        return pd.Series(values, dtype=values.dtype)
    return pd.Series(values, dtype=dtype)


def frame_from_tree(tree: dict[str, Any]) -> pd.DataFrame:
    """The frame that :func:`frame_tree` described."""
    columns = [_series(v, d) for v, d in zip(tree["values"], tree["dtypes"], strict=True)]
    out = pd.DataFrame(dict(enumerate(columns)), index=pd.RangeIndex(tree["rows"]))
    if tree["columns"]:
        out.columns = pd.Index(tree["columns"])
    idx = tree["index"]
    if idx is not None:
        out.index = pd.Index(_series(idx["values"], idx["dtype"]), name=idx["name"])
    return out


#: Fitted attributes of scikit-learn's ``TruncatedSVD`` (``transform`` reads the components).
TRUNCATED_SVD_FITTED: tuple[str, ...] = (
    "components_",
    "explained_variance_",
    "explained_variance_ratio_",
    "singular_values_",
    "n_features_in_",
)
