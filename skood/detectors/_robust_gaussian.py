"""A Gaussian density fitted robustly: the default density of DensityOfStatesDetector."""

import warnings

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.special import gammainc, gammaincc, gammaln
from sklearn.base import BaseEstimator
from sklearn.covariance import MinCovDet
from sklearn.utils import check_random_state

# Directions whose spread is below this fraction of the largest one are exactly
# dependent statistics (per-scale terms and their sum, a duplicated column).
_RANK_RTOL = 1e-6


def log_chi2_sf(x, dof):
    """``log P(chi2_dof > x)``, finite where the tail probability underflows."""
    a, half = dof / 2.0, np.asarray(x, dtype=np.float64) / 2.0
    upper = gammaincc(a, half)
    with np.errstate(divide="ignore"):
        # Near the centre log1p of the lower part keeps the digits log(1 - tiny) loses.
        out = np.where(upper > 0.5, np.log1p(-gammainc(a, half)), np.log(upper))
    far = ~np.isfinite(out)
    if far.any():  # the upper incomplete gamma's asymptotic series, two terms
        h = half[far]
        out[far] = ((a - 1) * np.log(h) - h - gammaln(a)
                    + np.log1p((a - 1) / h + (a - 1) * (a - 2) / h**2))
    return out


class RobustGaussian(BaseEstimator):
    """Full-covariance Gaussian whose mean and covariance ignore atypical rows.

    Location and scatter are the reweighted Minimum Covariance Determinant
    (Rousseeuw and Van Driessen's FastMCD, :class:`sklearn.covariance.MinCovDet`):
    fitted on the half of the rows that are most concentrated, then on every row
    within the 97.5% chi-square ellipsoid of that fit. Rows the fit is not meant
    to describe (anomalies in unlabelled training data, a flow's pathological
    likelihood on a few inputs) then neither widen the density nor get a
    component of their own, as they do in a maximum-likelihood Gaussian or
    mixture. ``reg_covar`` is added to the covariance's diagonal. Exactly
    dependent columns are handled by fitting the estimate in the span of the
    data and giving the other directions variance ``reg_covar``.

    Parameters
    ----------
    reg_covar : float, default=1e-3
    random_state : int, RandomState instance or None, default=None
        Seeds FastMCD's random starts.

    Attributes
    ----------
    location_ : ndarray of shape (n_features,)
    covariance_ : ndarray of shape (n_features, n_features)
    support_ : ndarray of shape (n_samples,) of bool
        Rows of the final (reweighted) fit.
    cholesky_ : ndarray of shape (n_features, n_features)
        Lower Cholesky factor of ``covariance_``.
    """

    def __init__(self, reg_covar=1e-3, random_state=None):
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        n, d = X.shape
        mean = X.mean(0)
        _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
        basis = vt[s > _RANK_RTOL * s[0]] if s.size and s[0] > 0 else vt[:0]
        P = (X - mean) @ basis.T
        loc, cov, support = np.zeros(len(basis)), np.zeros((len(basis),) * 2), np.ones(n, bool)
        if len(basis) and n > len(basis) + 1:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            try:
                with warnings.catch_warnings():
                    # Ties (many equal rows) can leave a c-step's determinant flat.
                    # MinCovDet also warns when a direction's squared spread is below
                    # 1e-8: statistics dependent up to float32 round-off (a tabular
                    # flow's prior term and latent norm) keep such a direction above
                    # _RANK_RTOL; reg_covar gives it a proper variance.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    warnings.filterwarnings("ignore", "The covariance matrix associated",
                                            UserWarning)
                    mcd = MinCovDet(random_state=seed).fit(P)
                loc, cov, support = mcd.location_, mcd.covariance_, mcd.support_
            except ValueError:  # more than half the rows coincide: no robust scatter
                loc, cov = P.mean(0), np.atleast_2d(np.cov(P, rowvar=False, bias=True))
        elif len(basis):
            loc, cov = P.mean(0), np.atleast_2d(np.cov(P, rowvar=False, bias=True))
        self.location_ = mean + loc @ basis
        self.covariance_ = basis.T @ cov @ basis + self.reg_covar * np.eye(d)
        self.support_ = support
        self.cholesky_ = cholesky(self.covariance_, lower=True)
        return self

    def mahalanobis(self, X):
        """Squared Mahalanobis distance of each row to ``location_``."""
        diff = np.asarray(X, dtype=np.float64) - self.location_
        return (solve_triangular(self.cholesky_, diff.T, lower=True) ** 2).sum(0)

    def log_tail(self, X):
        """Log-probability that a draw of the Gaussian is further from ``location_``
        (in Mahalanobis distance) than each row: a two-sided p-value's log."""
        return log_chi2_sf(self.mahalanobis(X), len(self.location_))

    def score_samples(self, X):
        """Log-density of each row."""
        d = len(self.location_)
        log_det = 2 * np.log(np.diag(self.cholesky_)).sum()
        return -0.5 * (d * np.log(2 * np.pi) + log_det + self.mahalanobis(X))
