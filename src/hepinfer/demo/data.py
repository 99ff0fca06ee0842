"""The demo's embedded data set: synthetic jets, 16 features, 5 classes (g, q, W, Z, t).

Each class is a mixture of two Gaussian components in the 16-feature space (one component for
jets whose substructure is resolved, one for those where it is not): the component means are
drawn once from a fixed generator (`MEANS_SEED`), shared directions of the classes overlap so
the classes are separable only in part (like the real high-level jet features, where a simple
MLP reaches about 75 % accuracy), the widths differ per class and component, and each feature
gets a fixed scale and offset. The features are standardised with the training set's mean and
standard deviation, as hls4ml's jet-tagging examples do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CLASSES = ("g", "q", "W", "Z", "t")
N_FEATURES = 16
#: seed of the class-conditional distributions (the data set's "physics"), not of the sampling
MEANS_SEED = 20_240_501

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DataSet:
    """Standardised train/test features (float32-representable float64) and integer labels."""

    x_train: FloatArray
    y_train: IntArray
    x_test: FloatArray
    y_test: IntArray

    @property
    def n_classes(self) -> int:
        return len(CLASSES)


def _class_model() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Means (class, component, feature), widths (class, component), feature scale, offset."""
    rng = np.random.default_rng(MEANS_SEED)
    shared = rng.normal(0.0, 1.0, (2, N_FEATURES))  # what all classes have in common
    means = 0.55 * rng.normal(0.0, 1.0, (len(CLASSES), 2, N_FEATURES)) + shared[None]
    widths = rng.uniform(0.8, 1.3, (len(CLASSES), 2))
    scale = rng.uniform(0.5, 20.0, N_FEATURES)
    offset = rng.normal(0.0, 5.0, N_FEATURES)
    return means, widths, scale, offset


def generate(n: int, seed: int = 0) -> tuple[FloatArray, IntArray]:
    """`n` raw (unstandardised) jets and their labels, reproducible from `seed`."""
    means, widths, scale, offset = _class_model()
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(CLASSES), n)
    component = (rng.random(n) < 0.35).astype(np.int64)
    noise = rng.normal(0.0, 1.0, (n, N_FEATURES))
    x = means[label, component] + widths[label, component][:, None] * noise
    return x * scale + offset, label.astype(np.int64)


def make_dataset(n_train: int, n_test: int, seed: int = 0) -> DataSet:
    """Train and test sets from one generated sample, standardised with the train set."""
    x, y = generate(n_train + n_test, seed)
    mean = x[:n_train].mean(axis=0)
    std = x[:n_train].std(axis=0)
    x = ((x - mean) / std).astype(np.float32).astype(np.float64)
    return DataSet(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
