"""Exact interventional TreeSHAP with per-path pattern tables over the background.

For one leaf and one pair (x, background row r), with A the path's slots that only
x satisfies and B the slots that only r satisfies (a slot neither satisfies makes
the leaf unreachable), the single-reference game is a unanimity-like game whose
Shapley values are closed-form (Lundberg et al. 2020; Chen, Lundberg & Lee):

    slot in A:  + v * (a-1)! c! / (a+c)!        slot in B:  - v * a! (c-1)! / (a+c)!

Averaging over r only needs, per path, the histogram H_p of the background's
k-bit patterns. So each path gets a table TAB_p[x_pattern, slot] = sum_r H_p[r] W_k
(one matrix product per slot count k), and explaining a row is a gather of one
table row per path and a scatter into players: cost grows with patterns, not with
background rows times explained rows (the idea of PLTreeSHAP and WOODELF).
Paths with many slots skip the table: a row visits only those of the background's
distinct patterns that satisfy every slot the row fails (the others cannot reach the
leaf with it), found by AND-ing per-slot bit sets; on deep forests that is a few
patterns per path, so long paths cost no table memory. Tables are cached per
(background, player grouping).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import factorial
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from service import cores
from service.explain.trees.ensemble import TreeEnsemble
from service.explain.trees.paths import MAX_SLOTS, Paths, compile_paths
from service.explain.trees.predict import predict_scores

if TYPE_CHECKING:
    from service.explain.trees.store import TableStore

__all__ = ["PathTables", "TableCache", "build_tables", "shapley_values"]

K_DENSE = 8  # slots up to which a path gets a dense 2^k x k table
TABLE_BUDGET_BYTES = 512 * 2**20
_CHUNK_ROWS = 2048
# Below this many rows a request runs the kernel on its own thread: waking numba's
# thread pool costs more than it saves (measured 1.0 ms on one thread against 13.7 ms
# on two for one german_credit row, on a busy 2-core machine), and a server already
# runs requests side by side on its compute threads and worker processes. A thread
# pinned to one core (``service.cores``) runs them on itself too: the team it would
# start would share that core.
PARALLEL_MIN_ROWS = 64


@contextmanager
def _kernel_threads(n_rows: int) -> Iterator[None]:
    import numba

    if (n_rows >= PARALLEL_MIN_ROWS and not cores.pinned()) or numba.get_num_threads() == 1:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # this thread only
    try:
        yield
    finally:
        numba.set_num_threads(before)


@dataclass(frozen=True, eq=False)
class PathTables:
    """Everything explaining a row needs, for one background and one player grouping.

    table_off: (P,) offset of path p's dense table in ``tables`` (-1: no table)
    sparse_ptr: (P + 1,) the background's distinct patterns on table-less paths, with
        their frequencies ``sparse_frac``
    bits_ptr: (P + 1,) offsets into ``slot_bits``: per table-less path and slot, which of
        its distinct patterns satisfy the slot (64 a word), so that a row visits only
        the patterns that can reach the leaf with it
    base_scores: (n_scores,) mean tree score over the background
    """

    paths: Paths
    table_off: NDArray[np.int64]
    tables: NDArray[np.float64]
    sparse_ptr: NDArray[np.int64]
    sparse_pattern: NDArray[np.int64]
    sparse_frac: NDArray[np.float64]
    bits_ptr: NDArray[np.int64]
    slot_bits: NDArray[np.int64]
    base_scores: NDArray[np.float64]
    n_background: int

    @functools.cached_property
    def n_dense(self) -> int:
        return int((self.table_off >= 0).sum())

    @property
    def nbytes(self) -> int:
        return int(
            self.tables.nbytes
            + self.sparse_pattern.nbytes
            + self.sparse_frac.nbytes
            + self.slot_bits.nbytes
        )


@functools.lru_cache(maxsize=1)
def _coefficients() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """coef_in[a, c] = (a-1)! c! / (a+c)!, coef_out[a, c] = a! (c-1)! / (a+c)!."""
    size = MAX_SLOTS + 1
    coef_in = np.zeros((size, size))
    coef_out = np.zeros((size, size))
    for a in range(size):
        for c in range(size):
            if a >= 1:
                coef_in[a, c] = factorial(a - 1) * factorial(c) / factorial(a + c)
            if c >= 1:
                coef_out[a, c] = factorial(a) * factorial(c - 1) / factorial(a + c)
    return coef_in, coef_out


@functools.lru_cache(maxsize=K_DENSE + 1)
def _weights(k: int) -> NDArray[np.float64]:
    """W_k as a (2^k [background pattern], 2^k * k [x pattern, slot]) matrix."""
    coef_in, coef_out = _coefficients()
    n = 1 << k
    full = n - 1
    r = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    only_x, only_r = x & ~r & full, r & ~x & full
    live = (~x & ~r & full) == 0
    pop = np.array([bin(v).count("1") for v in range(n)])
    a, c = pop[only_x], pop[only_r]
    bits = (1 << np.arange(k))[None, None, :]
    w = np.where((only_x[..., None] & bits) != 0, coef_in[a, c][..., None], 0.0)
    w -= np.where((only_r[..., None] & bits) != 0, coef_out[a, c][..., None], 0.0)
    w[~live] = 0.0
    return np.ascontiguousarray(w.reshape(n, n * k))


def _patterns(ensemble: TreeEnsemble, paths: Paths, Z: NDArray[np.float64]) -> NDArray[np.int64]:
    from service.explain.trees._kernels import patterns_kernel  # numba loads on first use

    e, p = ensemble, paths
    out: NDArray[np.int64] = patterns_kernel(
        Z,
        e.feature,
        e.threshold,
        e.mode,
        e.nan_true,
        e.leaf,
        e.set_ptr,
        e.set_values,
        p.k,
        p.cons_ptr,
        p.cons_node,
        p.cons_true,
        p.cons_slot,
    )
    return out


def build_tables(
    ensemble: TreeEnsemble,
    paths: Paths,
    background: NDArray[np.float64],
    max_dense_slots: int = K_DENSE,
) -> PathTables:
    """Pool the background (n_background, n_features) into per-path tables.

    Paths with at most ``max_dense_slots`` slots (and 2^k at most the background's rows)
    get a dense table, within the byte budget; the others keep the background's
    distinct patterns and, per slot, bit sets of the patterns that satisfy it.
    """
    from service.explain.trees._kernels import (  # numba loads on first use
        distinct_kernel,
        histogram_kernel,
        slot_bits_kernel,
    )

    k = paths.k.astype(np.int64)
    # A table of 2^k rows pays for its build only when the background has about as many
    # rows: below that, visiting the few patterns that reach the leaf (bit sets) is as
    # fast per row and far cheaper to build (a 100-tree depth-10 forest at 100 rows:
    # 28 MiB instead of 181 MiB, and a fifth of the build time).
    n_rows = int(background.shape[0])
    max_dense_slots = min(max_dense_slots, K_DENSE, max(n_rows.bit_length() - 1, 0))
    sizes = (1 << np.minimum(k, K_DENSE)) * k * 8
    # Dense tables for the paths with the fewest slots first, within the byte budget.
    order = np.argsort(k, kind="stable")
    within = np.cumsum(sizes[order]) <= TABLE_BUDGET_BYTES
    dense = np.zeros(paths.n_paths, bool)
    dense[order[within]] = True
    dense &= k <= max_dense_slots
    table_len = np.where(dense, (1 << np.minimum(k, K_DENSE)) * k, 0)
    table_off = np.where(dense, np.cumsum(table_len) - table_len, -1).astype(np.int64)
    hist_len = np.where(dense, 1 << np.minimum(k, K_DENSE), 0)
    hist_off = np.where(dense, np.cumsum(hist_len) - hist_len, -1).astype(np.int64)
    counts = np.zeros(int(hist_len.sum()))
    sparse_idx = np.flatnonzero(~dense)
    sparse_cols: list[NDArray[np.int64]] = []
    Z = ensemble.prepare(background)
    for start in range(0, Z.shape[0], _CHUNK_ROWS):
        patterns = _patterns(ensemble, paths, Z[start : start + _CHUNK_ROWS])
        histogram_kernel(patterns, hist_off, counts)
        if sparse_idx.size:
            sparse_cols.append(patterns[:, sparse_idx])
    n_bg = Z.shape[0]
    tables = np.empty(int(table_len.sum()))
    for kk in np.unique(k[dense]):
        idx = np.flatnonzero(dense & (k == kk))
        n = 1 << int(kk)
        H = counts[hist_off[idx][:, None] + np.arange(n)] / n_bg
        tables[table_off[idx][:, None] + np.arange(n * int(kk))] = H @ _weights(int(kk))
    sparse_ptr = np.zeros(paths.n_paths + 1, np.int64)
    bits_ptr = np.zeros(paths.n_paths + 1, np.int64)
    sparse_pattern = np.zeros(0, np.int64)
    sparse_frac = np.zeros(0)
    if sparse_idx.size:
        uniq, count, length = distinct_kernel(np.concatenate(sparse_cols, axis=0))
        used = np.arange(uniq.shape[1])[None, :] < length[:, None]
        sparse_pattern, sparse_frac = uniq[used], count[used] / n_bg
        lengths = np.zeros(paths.n_paths, np.int64)
        lengths[sparse_idx] = length
        sparse_ptr[1:] = np.cumsum(lengths)
        bits_ptr[1:] = np.cumsum((lengths + 63) // 64 * k)
    slot_bits = slot_bits_kernel(paths.k, sparse_ptr, sparse_pattern, bits_ptr, int(bits_ptr[-1]))
    return PathTables(
        paths=paths,
        table_off=table_off,
        tables=tables,
        sparse_ptr=sparse_ptr,
        sparse_pattern=sparse_pattern,
        sparse_frac=sparse_frac,
        bits_ptr=bits_ptr,
        slot_bits=slot_bits,
        base_scores=predict_scores(ensemble, background).mean(axis=0),
        n_background=n_bg,
    )


def shapley_values(
    ensemble: TreeEnsemble, tables: PathTables, X: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Exact interventional values in score space: X (n, n_features) -> (n, n_players, n_scores)."""
    from service.explain.trees._kernels import shapley_kernel  # numba loads on first use

    e, p, t = ensemble, tables.paths, tables
    coef_in, coef_out = _coefficients()
    Z = e.prepare(X)
    parts = []
    with _kernel_threads(Z.shape[0]):
        parts = _shapley_chunks(Z, e, p, t, coef_in, coef_out, shapley_kernel)
    return np.concatenate(parts, axis=0)


def _shapley_chunks(
    Z: NDArray[np.float64],
    e: TreeEnsemble,
    p: Paths,
    t: PathTables,
    coef_in: NDArray[np.float64],
    coef_out: NDArray[np.float64],
    shapley_kernel: Any,
) -> list[NDArray[np.float64]]:
    parts = []
    for start in range(0, max(Z.shape[0], 1), _CHUNK_ROWS):
        parts.append(
            shapley_kernel(
                Z[start : start + _CHUNK_ROWS],
                e.feature,
                e.threshold,
                e.mode,
                e.nan_true,
                e.leaf,
                e.set_ptr,
                e.set_values,
                e.leaf_values,
                p.leaf,
                p.k,
                p.cons_ptr,
                p.cons_node,
                p.cons_true,
                p.cons_slot,
                p.slot_ptr,
                p.slot_player,
                p.prefix,
                p.max_splits,
                t.table_off,
                t.tables,
                t.sparse_ptr,
                t.sparse_pattern,
                t.sparse_frac,
                t.bits_ptr,
                t.slot_bits,
                coef_in,
                coef_out,
                p.n_players,
            )
        )
    return parts


class TableCache:
    """Paths per player grouping and tables per (background, grouping), kept across requests.

    A small LRU: a served model sees one background and one or two groupings. With a
    ``store`` (``trees.store.TableStore``), tables built once are read from disk by the
    next process instead of being built again.
    """

    def __init__(
        self, ensemble: TreeEnsemble, max_tables: int = 4, store: TableStore | None = None
    ) -> None:
        self._ensemble = ensemble
        self._max = max_tables
        self._store = store
        self._paths: dict[tuple[tuple[int, ...], ...], Paths] = {}
        self._tables: OrderedDict[tuple[str, tuple[tuple[int, ...], ...]], PathTables] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        # The served background is the same array on every request: hash it once.
        self._digests: dict[int, tuple[NDArray[np.float64], str]] = {}

    def _digest(self, given: NDArray[np.float64], bg: NDArray[np.float64]) -> str:
        seen = self._digests.get(id(given))
        if seen is not None and seen[0] is given:
            return seen[1]
        digest = hashlib.sha256(repr(bg.shape).encode() + bg.tobytes()).hexdigest()
        if not given.flags.writeable:  # only arrays nobody can change in place are memoised
            self._digests = {id(given): (given, digest)}
        return digest

    def get(
        self, background: NDArray[np.float64], players: tuple[tuple[int, ...], ...]
    ) -> tuple[PathTables, bool]:
        """Tables for this background (n_background, n_features); True when they were cached."""
        bg = np.ascontiguousarray(background, dtype=np.float64)
        digest = self._digest(background, bg)
        key = (digest, players)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key], True
            tables = self._store.load(digest, players) if self._store is not None else None
            if tables is None:
                paths = self._paths.get(players)
                if paths is None:
                    paths = self._paths[players] = compile_paths(self._ensemble, players)
                tables = build_tables(self._ensemble, paths, bg)
                if self._store is not None:
                    self._store.save(digest, players, tables)
            self._tables[key] = tables
            while len(self._tables) > self._max:
                self._tables.popitem(last=False)
            return tables, False
