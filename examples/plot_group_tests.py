"""
Group tests: AUROC vs group size
================================

Sometimes the question is not "is this image OOD?" but "is this *batch* from the
training distribution?" (a new data source, a drifted sensor). A group test scores a
whole group of M inputs at once. Every skood detector has the group API:
``score_groups`` / ``predict_groups`` / ``group_threshold``;
:class:`~skood.detectors.TypicalityDetector` and
:class:`~skood.detectors.KLDivergenceDetector` use a statistic of the whole group,
the others the mean normality of its members.

We score digits 0-4 (ID) against digits 5-9 (OOD) in groups of 1 to 20 digits, with
one flow pass per test set: ``sample_statistics`` once, then ``score_statistics`` for
each group size.
"""

# %%
# One flow, four detectors
# ------------------------
import matplotlib.pyplot as plt
from sklearn.frozen import FrozenEstimator

from skood.datasets import load_digits_ood
from skood.density import GlowDensity
from skood.detectors import (
    DensityOfStatesDetector,
    KLDivergenceDetector,
    LikelihoodDetector,
    TypicalityDetector,
)
from skood.metrics import group_auroc, make_groups

data = load_digits_ood(random_state=0)
X_flow, X_cal = data.X_train[:338], data.X_train[338:]
glow = GlowDensity(
    data.input_shape, n_levels=2, n_steps=4, hidden_channels=32, max_epochs=10,
    random_state=0,
).fit(X_flow)
flow = FrozenEstimator(glow)

detectors = {
    "Likelihood (group mean)": LikelihoodDetector(flow),
    "Typicality": TypicalityDetector(flow, random_state=0),
    "KL divergence (KLODS)": KLDivergenceDetector(flow, random_state=0),
    "Density of states (group mean)": DensityOfStatesDetector(flow, random_state=0),
}
for det in detectors.values():
    det.fit(X_cal)

# %%
# AUROC over groups
# -----------------
# :func:`~skood.metrics.make_groups` draws disjoint random groups of M test digits,
# the same way for the ID and the OOD test sets; each group is one item of the ROC.
# KLODS fits a Gaussian to the latents of the group, which needs at least two
# inputs: its curve starts at M = 2.
group_sizes = [1, 2, 5, 10, 20]
curves = {}
for name, det in detectors.items():
    stats_id = det.sample_statistics(data.X_test_id)  # one flow pass per test set
    stats_ood = det.sample_statistics(data.X_test_ood)
    curves[name] = []
    for m in group_sizes:
        if m == 1 and isinstance(det, KLDivergenceDetector):
            curves[name].append(float("nan"))
            continue
        g_id = make_groups(len(data.X_test_id), m, random_state=0)
        g_ood = make_groups(len(data.X_test_ood), m, random_state=1)
        curves[name].append(group_auroc(
            det.score_statistics(stats_id, groups=g_id),
            det.score_statistics(stats_ood, groups=g_ood),
        ))

print(f"{'detector':<32}" + "".join(f"{'M=' + str(m):>8}" for m in group_sizes))
for name, values in curves.items():
    print(f"{name:<32}" + "".join(f"{v:8.3f}" if v == v else f"{'-':>8}" for v in values))

# %%
# On this task larger groups make every detector better: the mean of M scores has
# a spread about sqrt(M) times smaller, and the group statistics of typicality and
# KLODS only become informative with several inputs. On Fashion-MNIST -> MNIST,
# where the likelihood is paradoxical, the group mean of the likelihood gets *worse*
# with M (0.054 at M = 5 in skood's benchmark) while KLODS reaches 0.996: averaging
# cannot fix a score that points the wrong way, a group statistic can.
fig, ax = plt.subplots(figsize=(5.5, 4))
for name, values in curves.items():
    ax.plot(group_sizes, values, marker="o", label=name)
ax.set_xscale("log")
ax.set_xticks(group_sizes, [str(m) for m in group_sizes])
ax.set_xlabel("group size M (digits per group)")
ax.set_ylabel("group AUROC")
ax.set_title("Digits 0-4 vs 5-9, scored in groups")
ax.legend(fontsize="small")
fig.tight_layout()
plt.show()

# %%
# Deployment: ``predict_groups`` compares each group's score with
# ``group_threshold(M)``, the false-alarm quantile (``contamination``, 5%) of
# bootstrap groups of calibration digits.
typicality = detectors["Typicality"]
flags = typicality.predict_groups(data.X_test_ood[:100], group_size=10)
print(f"OOD groups of 10 flagged by typicality: {(flags == -1).sum()} of {len(flags)}")
flags = typicality.predict_groups(data.X_test_id[:100], group_size=10)
print(f"ID groups of 10 flagged by typicality: {(flags == -1).sum()} of {len(flags)}")
