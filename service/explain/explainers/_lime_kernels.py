# mypy: disable-error-code="no-untyped-def"
# (numba infers the kernels' argument types from the arrays at the first call)
"""Compiled loops for lime: drawing bins, undiscretizing them, and the ridge's sums.

``ndtri`` is cephes' inverse normal CDF (scipy's ``special.ndtri``: the same
rational approximations, coefficients and operation order, from scipy's xsf
``cephes/ndtri.h``), so values agree with scipy's to the last bit or two.
``draw_kernel`` turns one row's uniforms into bins as lime's ``choice`` does;
``fill_kernel`` fuses what lime does per value (look up the drawn bin's constants,
invert the truncated normal on whichever tail keeps precision, clip, rescale) into
passes per column that write straight into the neighbours and the binary
representation, rows in parallel (the values to invert are grouped by cephes' branch,
``_central`` or ``_tail``, so that each group runs as a loop without unpredictable
branches: the same operations per value, so the same bits). ``gram_kernel`` and
``score_kernel`` are the weighted ridge's normal equations and R² from the binary
representation. ``lime.py`` owns the meaning.
Numba compiles on first call (``cache=True`` keeps it on disk), never at import.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["draw_kernel", "fill_kernel", "gram_kernel", "ndtri", "score_kernel"]

_P0 = np.array(
    [
        -5.99633501014107895267e1,
        9.80010754185999661536e1,
        -5.66762857469070293439e1,
        1.39312609387279679503e1,
        -1.23916583867381258016e0,
    ]
)
_Q0 = np.array(
    [
        1.95448858338141759834e0,
        4.67627912898881538453e0,
        8.63602421390890590575e1,
        -2.25462687854119370527e2,
        2.00260212380060660359e2,
        -8.20372256168333339912e1,
        1.59056225126211695515e1,
        -1.18331621121330003142e0,
    ]
)
_P1 = np.array(
    [
        4.05544892305962419923e0,
        3.15251094599893866154e1,
        5.71628192246421288162e1,
        4.40805073893200834700e1,
        1.46849561928858024014e1,
        2.18663306850790267539e0,
        -1.40256079171354495875e-1,
        -3.50424626827848203418e-2,
        -8.57456785154685413611e-4,
    ]
)
_Q1 = np.array(
    [
        1.57799883256466749731e1,
        4.53907635128879210584e1,
        4.13172038254672030440e1,
        1.50425385692907503408e1,
        2.50464946208309415979e0,
        -1.42182922854787788574e-1,
        -3.80806407691578277194e-2,
        -9.33259480895457427372e-4,
    ]
)
_P2 = np.array(
    [
        3.23774891776946035970e0,
        6.91522889068984211695e0,
        3.93881025292474443415e0,
        1.33303460815807542389e0,
        2.01485389549179081538e-1,
        1.23716634817820021358e-2,
        3.01581553508235416007e-4,
        2.65806974686737550832e-6,
        6.23974539184983293730e-9,
    ]
)
_Q2 = np.array(
    [
        6.02427039364742014255e0,
        3.67983563856160859403e0,
        1.37702099489081330271e0,
        2.16236993594496635890e-1,
        1.34204006088543189037e-2,
        3.28014464682127739104e-4,
        2.89247864745380683936e-6,
        6.79019408009981274425e-9,
    ]
)
_SQRT2PI = 2.50662827463100050242e0
_EXP_M2 = 0.13533528323661269189  # exp(-2)


@nb.njit(cache=True, inline="always")
def _polevl(x, coef):
    ans = coef[0]
    for i in range(1, coef.shape[0]):
        ans = ans * x + coef[i]
    return ans


@nb.njit(cache=True, inline="always")
def _p1evl(x, coef):
    ans = x + coef[0]
    for i in range(1, coef.shape[0]):
        ans = ans * x + coef[i]
    return ans


_ONE_M_EXP_M2 = 1.0 - _EXP_M2


@nb.njit(cache=True, inline="always")
def _central(y):
    """cephes' ndtri on (exp(-2), 1 - exp(-2)]: a rational function of (y - 1/2)^2."""
    y = y - 0.5
    y2 = y * y
    x = y + y * (y2 * _polevl(y2, _P0) / _p1evl(y2, _Q0))
    return x * _SQRT2PI


@nb.njit(cache=True, inline="always")
def _tail(y):
    """-ndtri(y) for 0 < y <= exp(-2) (cephes' tail: a rational function of 1/sqrt(-2 log y))."""
    x = np.sqrt(-2.0 * np.log(y))
    x0 = x - np.log(x) / x
    z = 1.0 / x
    if x < 8.0:  # noqa: SIM108 - cephes' own shape, kept for comparison
        x1 = z * _polevl(z, _P1) / _p1evl(z, _Q1)
    else:
        x1 = z * _polevl(z, _P2) / _p1evl(z, _Q2)
    return x0 - x1


@nb.njit(cache=True)
def ndtri(y0):
    """Inverse of the standard normal CDF (cephes), NaN outside [0, 1]."""
    if y0 == 0.0:
        return -np.inf
    if y0 == 1.0:
        return np.inf
    if y0 < 0.0 or y0 > 1.0 or y0 != y0:
        return np.nan
    code = True
    y = y0
    if y > _ONE_M_EXP_M2:
        y = 1.0 - y
        code = False
    if y > _EXP_M2:
        return _central(y)
    x = _tail(y)
    if code:
        x = -x
    return x


@nb.njit(cache=True, nogil=True)
def draw_kernel(uniforms, players, cdf, code, varies, drawn):
    """One row's bins, as lime's ``choice`` draws them; returns how many vary.

    uniforms (m, s): the row's uniforms, player-major; ``players`` the numeric ones,
    with their bins' ``cdf`` and ``code`` (n_numeric, 4), +inf padded. Writes the
    drawn bins as flat indices into the (n_numeric, 4) tables to ``drawn``
    (n_numeric, s) and counts those of neighbours 1: that lime undiscretizes with a
    truncated normal (one uniform each, drawn next).
    """
    n_numeric, s = drawn.shape
    n_bins = cdf.shape[1]
    count = 0
    for j in range(n_numeric):
        row = uniforms[players[j]]
        for t in range(s):
            u = row[t]
            # choice takes the first entry whose cumulative frequency exceeds u
            entry = 0
            for c in range(n_bins):
                if u >= cdf[j, c]:
                    entry += 1
            d = code[j, entry] + j * n_bins
            drawn[j, t] = d
            if t > 0 and varies[d]:
                count += 1
    return count


@nb.njit(cache=True, nogil=True, parallel=True)
def fill_kernel(
    out,
    Z,
    X,
    players,
    columns,
    own,
    drawn,
    q,
    varies,
    low,
    cdf_a,
    sf_b,
    mass,
    za,
    zb,
    std,
    mean,
):
    """Write the numeric players' neighbours and indicators, rows in parallel.

    out (b, s, n_columns): neighbour 0 of row i is ``X[i]``; neighbour t + 1 gets, in
    ``columns[j]``, a number for its drawn bin ``drawn[i, j, t + 1]`` (flat indices into
    the (n_numeric, 4) tables): the truncated normal's inverse CDF on whichever tail
    keeps precision, clipped and rescaled, from row i's uniforms ``q[i]`` consumed in C
    order over (j, t) among the bins that vary; a one-value bin gives that value.
    Z (b, s, m) uint8: 1 where the drawn bin is the row's own bin ``own[i, j]``.
    """
    b, n_numeric, s = drawn.shape
    n_bins = varies.shape[0] // max(n_numeric, 1)
    for i in nb.prange(b):
        # one column at a time, in three passes: the probabilities to invert, split by
        # cephes' branch (central or tail, each then a branch-free loop; anything else
        # through ndtri itself), then the clip and rescale; the same operations per value
        y_central = np.empty(s)
        at_central = np.empty(s, np.int64)
        y_tail = np.empty(s)
        at_tail = np.empty(s, np.int64)
        z_of = np.empty(s)
        t_of = np.empty(s, np.int64)
        d_of = np.empty(s, np.int64)
        negate = np.empty(s, np.bool_)
        for c in range(X.shape[1]):
            out[i, 0, c] = X[i, c]
        pos = 0
        for j in range(n_numeric):
            col = columns[j]
            player = players[j]
            mine = own[i, j] + j * n_bins
            n_central = 0
            n_tail = 0
            n = 0
            for t in range(s):
                d = drawn[i, j, t]
                Z[i, t, player] = 1 if d == mine else 0
                if t == 0:
                    continue
                if not varies[d]:
                    out[i, t, col] = low[d]  # a one-value bin: that value
                    continue
                u = q[i, pos]
                pos += 1
                below = cdf_a[d] + u * mass[d]
                above = sf_b[d] + (1.0 - u) * mass[d]
                # z = ndtri(below) if below < above else -ndtri(above)
                lower = below < above
                y = below if lower else above
                negate[n] = not lower
                t_of[n] = t
                d_of[n] = d
                if y > _EXP_M2 and y <= _ONE_M_EXP_M2:
                    y_central[n_central] = y
                    at_central[n_central] = n
                    n_central += 1
                elif y > 0.0 and y <= _EXP_M2:
                    y_tail[n_tail] = y
                    at_tail[n_tail] = n
                    n_tail += 1
                else:
                    z_of[n] = ndtri(y)
                n += 1
            for e in range(n_central):
                y_central[e] = _central(y_central[e])
            for e in range(n_tail):
                y_tail[e] = _tail(y_tail[e])
            for e in range(n_central):
                z_of[at_central[e]] = y_central[e]
            for e in range(n_tail):
                z_of[at_tail[e]] = -y_tail[e]
            for e in range(n):
                z = -z_of[e] if negate[e] else z_of[e]
                d = d_of[e]
                # np.clip's order: the upper bound wins over the lower, NaN propagates
                if z < za[d]:
                    z = za[d]
                if z > zb[d]:
                    z = zb[d]
                out[i, t_of[e], col] = z * std[d] + mean[d]


@nb.njit(cache=True, nogil=True)
def _ones(z, ones):
    """Write the columns where the 0/1 row z is 1 into ``ones``, in order; return how many."""
    n = 0
    for j in range(z.shape[0]):
        if z[j]:
            ones[n] = j
            n += 1
    return n


@nb.njit(cache=True, nogil=True, parallel=True)
def gram_kernel(Z, Y, weight):
    """The weighted ridge's normal equations for each row, from binary Z.

    Z (b, s, m) uint8, Y (b, s, k); ``weight`` (m + 1,): lime's kernel weight of a
    neighbour by its number of ones. Returns, per row, the weights' sum (b,), the
    weighted means of Z (b, m) and Y (b, k), Zc' W Zc (b, m, m) and Zc' W Yc (b, m, k)
    for the centred Zc, Yc. Z is binary and mostly zeros: the products are sums of
    weights over the pairs of ones, less the means' part (sum w z z' - W zbar zbar').
    """
    b, s, m = Z.shape
    k = Y.shape[2]
    w_sum = np.zeros(b)
    z_mean = np.zeros((b, m))
    y_mean = np.zeros((b, k))
    gram = np.zeros((b, m, m))
    cross = np.zeros((b, m, k))
    for i in nb.prange(b):
        ones = np.empty(m, np.int64)
        G = gram[i]
        C = cross[i]
        W = 0.0
        for t in range(s):
            n_ones = _ones(Z[i, t], ones)
            w = weight[n_ones]
            W += w
            for a in range(n_ones):
                ja = ones[a]
                z_mean[i, ja] += w
                for c in range(a, n_ones):
                    G[ja, ones[c]] += w
                for o in range(k):
                    C[ja, o] += w * Y[i, t, o]
            for o in range(k):
                y_mean[i, o] += w * Y[i, t, o]
        w_sum[i] = W
        for j in range(m):
            z_mean[i, j] /= W
        for o in range(k):
            y_mean[i, o] /= W
        for j in range(m):
            for c in range(j, m):
                G[j, c] -= W * z_mean[i, j] * z_mean[i, c]
                G[c, j] = G[j, c]
            for o in range(k):
                C[j, o] -= W * z_mean[i, j] * y_mean[i, o]
    return w_sum, z_mean, y_mean, gram, cross


@nb.njit(cache=True, nogil=True, parallel=True)
def score_kernel(Z, Y, weight, coef, intercept, y_mean):
    """The surrogate's weighted R² on its neighbours (sklearn's ``score``), (b, k)."""
    b, s, m = Z.shape
    k = Y.shape[2]
    r2 = np.empty((b, k))
    for i in nb.prange(b):
        resid = np.zeros(k)
        total = np.zeros(k)
        ones = np.empty(m, np.int64)
        for t in range(s):
            n_ones = _ones(Z[i, t], ones)
            w = weight[n_ones]
            for o in range(k):
                pred = intercept[i, o]
                for a in range(n_ones):  # the coefficients of the ones, in column order
                    pred += coef[i, ones[a], o]
                e = Y[i, t, o] - pred
                d = Y[i, t, o] - y_mean[i, o]
                resid[o] += w * e * e
                total[o] += w * d * d
        for o in range(k):
            if total[o] > 0:
                r2[i, o] = 1.0 - resid[o] / total[o]
            else:
                r2[i, o] = 1.0 if resid[o] == 0 else 0.0
    return r2
