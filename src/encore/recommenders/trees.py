"""Predict with a LightGBM model from its text form, in numpy.

Why by hand: ``import lightgbm`` imports scikit-learn, about 2 s on the 2-core machine,
which alone would break the one-second budget of ``encore recommend`` from a saved model.
Training still uses LightGBM; serving reads the model text it wrote
(``Booster.model_to_string()``) and evaluates the trees here. Only what Encore's rankers
use is supported: numerical splits (LightGBM's ``NumericalDecision`` with its three
missing-value modes) and a sum of trees; a model with categorical splits or linear trees is
refused. Tested equal to LightGBM's own ``predict`` on real models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encore.errors import DataError

_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2
_ZERO = 1e-35  # LightGBM's kZeroThreshold


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees of a model as flat node arrays (children < 0 are leaves ``~child``)."""

    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    left: np.ndarray  # global node index, or ~(global leaf index)
    right: np.ndarray
    leaf_value: np.ndarray
    roots: np.ndarray  # per tree: global root node, or ~leaf for single-leaf trees
    n_features: int

    @classmethod
    def from_lightgbm_text(cls, text: str) -> TreeEnsemble:
        """Parse ``Booster.model_to_string()`` output.

        Raises
        ------
        DataError
            Not a LightGBM model text, or one using splits this reader does not support.
        """
        header, _, body = text.partition("\nTree=")
        fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
        if "max_feature_idx" not in fields:
            raise DataError("not a LightGBM model text (no max_feature_idx)")
        n_features = int(fields["max_feature_idx"]) + 1
        blocks = ("Tree=" + body).split("\nTree=") if body else []
        feature, threshold, dtype, left, right, leaves, roots = [], [], [], [], [], [], []
        n_nodes = n_leaves = 0
        for block in blocks:
            tree = block.split("end of trees")[0]
            kv = dict(line.split("=", 1) for line in tree.splitlines() if "=" in line)
            if int(kv.get("num_cat", "0")) > 0 or int(kv.get("is_linear", "0")):
                raise DataError("LightGBM model with categorical or linear trees is not supported")
            values = np.array(kv["leaf_value"].split(), dtype=np.float64)
            if int(kv["num_leaves"]) == 1:
                roots.append(~n_leaves)
            else:
                lc = np.array(kv["left_child"].split(), dtype=np.int64)
                rc = np.array(kv["right_child"].split(), dtype=np.int64)
                feature.append(np.array(kv["split_feature"].split(), dtype=np.int64))
                threshold.append(np.array(kv["threshold"].split(), dtype=np.float64))
                dtype.append(np.array(kv["decision_type"].split(), dtype=np.int64))
                left.append(np.where(lc >= 0, lc + n_nodes, ~(~lc + n_leaves)))
                right.append(np.where(rc >= 0, rc + n_nodes, ~(~rc + n_leaves)))
                roots.append(n_nodes)
                n_nodes += len(lc)
            leaves.append(values)
            n_leaves += len(values)
        d = np.concatenate(dtype) if dtype else np.zeros(0, np.int64)
        if np.any(d & 1):
            raise DataError("LightGBM model with categorical splits is not supported")

        def cat(parts: list[np.ndarray], kind: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=kind)

        return cls(
            feature=cat(feature, np.int64),
            threshold=cat(threshold, np.float64),
            default_left=(d & 2) > 0,
            missing=(d >> 2) & 3,
            left=cat(left, np.int64),
            right=cat(right, np.int64),
            leaf_value=cat(leaves, np.float64),
            roots=np.asarray(roots, dtype=np.int64),
            n_features=n_features,
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw scores (the sum of the trees' leaf values) of the rows of ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DataError(f"expected {self.n_features} features per row, got shape {x.shape}")
        # each tree splits the row set node by node (rows at a node are compared on one
        # feature column at once): about one small numpy step per split, ~5x faster than
        # walking all (row, tree) pairs level by level on a few thousand candidates
        n = x.shape[0]
        columns = np.ascontiguousarray(x.T)
        out = np.zeros(n)
        for root in self.roots:
            stack = [(int(root), np.arange(n))]
            while stack:
                nd, rows = stack.pop()
                if nd < 0:
                    out[rows] += self.leaf_value[~nd]
                    continue
                if not len(rows):
                    continue
                value = columns[self.feature[nd], rows]
                miss = self.missing[nd]
                isnan = np.isnan(value)
                if miss != _MISSING_NAN:
                    value = np.where(isnan, 0.0, value)
                if miss == _MISSING_ZERO:
                    is_missing = np.abs(value) <= _ZERO
                elif miss == _MISSING_NAN:
                    is_missing = isnan
                else:
                    is_missing = np.zeros(len(rows), dtype=bool)
                with np.errstate(invalid="ignore"):
                    go_left = np.where(
                        is_missing, self.default_left[nd], value <= self.threshold[nd]
                    )
                stack.append((int(self.left[nd]), rows[go_left]))
                stack.append((int(self.right[nd]), rows[~go_left]))
        return out
