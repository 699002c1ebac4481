"""Normal mixtures on the logit scale: the form every synthesised prior takes, and its robustification.

A meta-analytic-predictive (MAP) prior is a continuous mixture of normals (one per posterior draw of
the between-study mean and SD); :func:`fit_mixture` approximates it by a mixture of at most three
normals, as RBesT's ``mixfit``/``automixfit`` do with EM on MCMC draws. Here EM runs on the exact
predictive density tabulated on a fine logit grid, so it is deterministic.
:meth:`MixturePrior.robustify` adds the weakly informative component of Schmidli et al. (2014).

References
----------
Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information on
controls in clinical trials. Clin Trials 2010;7:5-18.
Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B. Robust
meta-analytic-predictive priors in clinical trials with historical control information.
Biometrics 2014;70:1023-1032.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

from microcalc.synthesis._numerics import expit

# Unit-information SD of a logit-scale rate at p = 0.5 (Fisher information p(1-p) = 1/4 per lesion):
# the robust component is worth about one lesion there (RBesT's examples use N(mean, 2) on the logit).
UNIT_INFORMATION_SD = 2.0
ROBUST_WEIGHT = 0.2


@dataclass(frozen=True)
class MixturePrior:
    """A mixture of normals for the logit of a malignancy rate.

    Parameters
    ----------
    weights, means, sds
        Component weights (summing to 1), means and standard deviations on the logit scale.
    robust_index
        Index of the weakly informative (robust) component, or None if the prior is not robustified.
    """

    weights: tuple[float, ...]
    means: tuple[float, ...]
    sds: tuple[float, ...]
    robust_index: int | None = None

    def __post_init__(self):
        """Refuse inconsistent components: lengths, weights summing to 1, positive SDs."""
        w = np.asarray(self.weights, float)
        if not (len(w) == len(self.means) == len(self.sds)) or len(w) == 0:
            raise ValueError("weights, means and sds must have the same non-zero length")
        if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")
        if np.any(np.asarray(self.sds, float) <= 0):
            raise ValueError(f"sds must be positive, got {self.sds}")

    @classmethod
    def normal(cls, mean: float, sd: float) -> MixturePrior:
        """A single-component prior N(mean, sd) on the logit scale."""
        return cls((1.0,), (float(mean),), (float(sd),))

    # -- arrays ---------------------------------------------------------------------------------
    @property
    def _w(self) -> np.ndarray:
        return np.asarray(self.weights, float)

    @property
    def _m(self) -> np.ndarray:
        return np.asarray(self.means, float)

    @property
    def _s(self) -> np.ndarray:
        return np.asarray(self.sds, float)

    @property
    def n_components(self) -> int:
        """Number of normal components (the robust one included)."""
        return len(self.weights)

    # -- densities ------------------------------------------------------------------------------
    def _component_logpdf(self, theta) -> np.ndarray:
        t = np.asarray(theta, float)[..., None]
        z = (t - self._m) / self._s
        return -0.5 * z**2 - np.log(self._s) - 0.5 * np.log(2 * np.pi)

    def logpdf(self, theta) -> np.ndarray:
        """Log density at ``theta`` (logit scale)."""
        return logsumexp(self._component_logpdf(theta) + np.log(self._w), axis=-1)

    def logpdf_tensor(self, theta):
        """Log density of a PyTensor variable, e.g. the model-implied marginal log-odds of a level.

        For ``pm.Potential(name, prior.logpdf_tensor(q))`` when the prior enters a PyMC model.
        """
        import pytensor.tensor as pt

        t = pt.shape_padright(pt.as_tensor_variable(theta))
        m, s, w = (pt.constant(np.asarray(v, float)) for v in (self.means, self.sds, self.weights))
        comp = -0.5 * ((t - m) / s) ** 2 - pt.log(s) - 0.5 * np.log(2 * np.pi) + pt.log(w)
        return pt.logsumexp(comp, axis=-1)

    def pdf(self, theta) -> np.ndarray:
        """Density at ``theta`` (logit scale)."""
        return np.exp(self.logpdf(theta))

    def cdf(self, theta) -> np.ndarray:
        """Cumulative distribution function at ``theta`` (logit scale)."""
        t = np.asarray(theta, float)[..., None]
        return (self._w * ndtr((t - self._m) / self._s)).sum(axis=-1)

    def dlogpdf(self, theta) -> np.ndarray:
        """First derivative of the log density."""
        t = np.asarray(theta, float)[..., None]
        r = self._responsibilities(theta)
        return (r * (-(t - self._m) / self._s**2)).sum(axis=-1)

    def d2logpdf(self, theta) -> np.ndarray:
        """Second derivative of the log density: f''/f - (f'/f)^2."""
        t = np.asarray(theta, float)[..., None]
        r = self._responsibilities(theta)
        d1 = -(t - self._m) / self._s**2
        d2 = d1**2 - 1.0 / self._s**2
        return (r * d2).sum(axis=-1) - (r * d1).sum(axis=-1) ** 2

    def _responsibilities(self, theta) -> np.ndarray:
        lp = self._component_logpdf(theta) + np.log(self._w)
        return np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))

    # -- summaries ------------------------------------------------------------------------------
    def mean(self) -> float:
        """Mean on the logit scale."""
        return float(self._w @ self._m)

    def sd(self) -> float:
        """Standard deviation on the logit scale (within- plus between-component variance)."""
        m = self.mean()
        return float(np.sqrt(self._w @ (self._s**2 + (self._m - m) ** 2)))

    def ppf(self, q: float) -> float:
        """Quantile on the logit scale (bisection on the mixture CDF)."""
        lo = float(np.min(self._m - 12 * self._s))
        hi = float(np.max(self._m + 12 * self._s))
        if self.n_components == 1:
            return float(self._m[0] + self._s[0] * ndtri(q))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-10:
                break
        return 0.5 * (lo + hi)

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        """Equal-tailed interval on the logit scale holding ``mass``."""
        a = (1.0 - mass) / 2.0
        return self.ppf(a), self.ppf(1.0 - a)

    def rate_interval(self, mass: float = 0.9) -> tuple[float, float]:
        """Equal-tailed interval of the malignancy rate expit(theta)."""
        lo, hi = self.interval(mass)
        return float(expit(lo)), float(expit(hi))

    def rate_median(self) -> float:
        """Median of the malignancy rate expit(theta) (expit of the logit median, as expit is monotone)."""
        return float(expit(self.ppf(0.5)))

    def rate_mean(self) -> float:
        """E[expit(theta)] by quadrature."""
        t, w = self.quadrature()
        return float(w @ expit(t))

    def quadrature(self, points: int = 4001) -> tuple[np.ndarray, np.ndarray]:
        """A fine grid over the prior's support with probability masses (sum 1), for expectations."""
        lo = float(np.min(self._m - 9 * self._s))
        hi = float(np.max(self._m + 9 * self._s))
        edges = np.linspace(lo, hi, points + 1)
        mass = np.diff(self.cdf(edges))
        return 0.5 * (edges[1:] + edges[:-1]), mass / mass.sum()

    # -- robustification and ESS ----------------------------------------------------------------
    def robustify(
        self, weight: float = ROBUST_WEIGHT, mean: float | None = None, sd: float = UNIT_INFORMATION_SD
    ) -> MixturePrior:
        """Add a weakly informative component N(mean, sd) with weight ``weight`` (Schmidli et al. 2014).

        ``mean`` defaults to the mixture mean (as RBesT's ``robustify`` does for normal mixtures);
        ``sd`` defaults to 2, the unit-information SD of a logit-scale rate at 50%. If data conflict
        with the informative part, the posterior weight of this component grows and the data dominate.

        References
        ----------
        Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B. Robust
        meta-analytic-predictive priors in clinical trials with historical control information.
        Biometrics 70, 1023-1032 (2014).
        """
        if not 0.0 < weight < 1.0:
            raise ValueError(f"robust weight must lie in (0, 1), got {weight}")
        if self.robust_index is not None:
            raise ValueError("prior is already robustified")
        m = self.mean() if mean is None else float(mean)
        w = tuple(float(x) * (1.0 - weight) for x in self.weights) + (float(weight),)
        return MixturePrior(w, self.means + (m,), self.sds + (float(sd),), robust_index=len(self.weights))

    def informative_part(self) -> MixturePrior:
        """The mixture without its robust component (itself if not robustified)."""
        if self.robust_index is None:
            return self
        keep = [i for i in range(self.n_components) if i != self.robust_index]
        w = self._w[keep] / self._w[keep].sum()
        return MixturePrior(tuple(w.tolist()), tuple(self._m[keep].tolist()), tuple(self._s[keep].tolist()))

    @property
    def robust_weight(self) -> float:
        """Weight of the robust component; 0 if the prior is not robustified."""
        return 0.0 if self.robust_index is None else float(self.weights[self.robust_index])

    def ess_elir(self) -> float:
        """ELIR effective sample size for binomial data on this logit scale (Neuenschwander et al. 2020)."""
        from microcalc.synthesis.ess import ess_elir

        return ess_elir(self)

    def describe(self) -> str:
        """Components as 'w*N(mean, sd)' joined by ' + ' (robust component marked 'r')."""
        parts = []
        for i, (w, m, s) in enumerate(zip(self.weights, self.means, self.sds)):
            tag = "r" if i == self.robust_index else ""
            parts.append(f"{w:.3f}*N{tag}({m:.3f}, {s:.3f})")
        return " + ".join(parts)


def fit_mixture(
    theta: np.ndarray, mass: np.ndarray, max_components: int = 3, tolerance: float = 0.005, iterations: int = 2000
) -> tuple[MixturePrior, float]:
    """Approximate a tabulated density on the logit scale by a mixture of 1..``max_components`` normals.

    Weighted EM on the grid points ``theta`` with probability masses ``mass``, for K = 1, 2, ...; the
    smallest K whose Kullback-Leibler divergence KL(exact || mixture) is below ``tolerance`` nats is
    kept (else the best). RBesT's ``automixfit`` chooses K by AIC on MCMC draws; a KL threshold does the
    same job without a sample size. Returns the mixture and its KL divergence.
    """
    theta = np.asarray(theta, float)
    mass = np.asarray(mass, float)
    keep = mass > 0
    theta, mass = theta[keep], mass[keep] / mass[keep].sum()
    step = float(np.min(np.diff(np.unique(theta)))) if len(theta) > 1 else 0.01
    widths = _cell_widths(theta)
    log_exact = np.log(mass / widths)
    best: tuple[MixturePrior, float] | None = None
    for k in range(1, max_components + 1):
        mix = _em(theta, mass, k, step, iterations)
        kl = float(mass @ (log_exact - mix.logpdf(theta)))
        if best is None or kl < best[1]:
            best = (mix, kl)
        if kl < tolerance:
            return mix, kl
    if best is None:
        raise ValueError(f"max_components must be at least 1, got {max_components}")
    return best


def _cell_widths(theta: np.ndarray) -> np.ndarray:
    d = np.diff(theta)
    if len(d) == 0:
        return np.ones_like(theta)
    left = np.concatenate([[d[0]], d])
    right = np.concatenate([d, [d[-1]]])
    return 0.5 * (left + right)


def _em(theta: np.ndarray, mass: np.ndarray, k: int, min_sd: float, iterations: int) -> MixturePrior:
    keep = mass > 1e-12 * mass.max()
    theta, mass = theta[keep], mass[keep] / mass[keep].sum()
    mean = float(mass @ theta)
    sd = float(np.sqrt(mass @ (theta - mean) ** 2))
    if k == 1:
        return MixturePrior((1.0,), (mean,), (max(sd, min_sd),))
    cdf = np.cumsum(mass)
    m = np.array([theta[min(int(np.searchsorted(cdf, (j + 0.5) / k)), len(theta) - 1)] for j in range(k)])
    s = np.full(k, sd / np.sqrt(k))
    w = np.full(k, 1.0 / k)
    prev = -np.inf
    t = theta[:, None]
    for _ in range(iterations):
        lp = -0.5 * ((t - m) / s) ** 2 - np.log(s) + np.log(w)
        top = lp.max(axis=1, keepdims=True)
        dens = np.exp(lp - top)
        tot = dens.sum(axis=1, keepdims=True)
        r = dens / tot * mass[:, None]
        nk = r.sum(axis=0) + 1e-300
        w = nk / nk.sum()
        m = (r * t).sum(axis=0) / nk
        s = np.maximum(np.sqrt((r * (t - m) ** 2).sum(axis=0) / nk), min_sd)
        ll = float(mass @ (top[:, 0] + np.log(tot[:, 0])))
        if ll - prev < 1e-9:
            break
        prev = ll
    order = np.argsort(m)
    w = w[order] / w[order].sum()
    return MixturePrior(tuple(w.tolist()), tuple(m[order].tolist()), tuple(s[order].tolist()))
