"""The demo's synthetic jet data set."""

from __future__ import annotations

import numpy as np

from hepinfer.demo.data import CLASSES, N_FEATURES, generate, make_dataset


def test_generate_is_reproducible_and_labelled() -> None:
    x1, y1 = generate(2000, seed=3)
    x2, y2 = generate(2000, seed=3)
    x3, _ = generate(2000, seed=4)
    assert x1.shape == (2000, N_FEATURES)
    assert (x1 == x2).all()
    assert (y1 == y2).all()
    assert not (x1 == x3).all()
    assert set(np.unique(y1)) == set(range(len(CLASSES)))


def test_classes_differ_but_overlap() -> None:
    x, y = generate(20_000, seed=0)
    means = np.stack([x[y == c].mean(axis=0) for c in range(len(CLASSES))])
    spread = x.std(axis=0)
    # every pair of classes differs in some feature by a fraction of a standard deviation...
    for a in range(len(CLASSES)):
        for b in range(a):
            assert np.abs(means[a] - means[b]).max() > 0.1 * spread.max()


def test_make_dataset_standardises_with_the_train_set() -> None:
    data = make_dataset(5000, 1000, seed=1)
    assert data.x_train.shape == (5000, N_FEATURES)
    assert data.x_test.shape == (1000, N_FEATURES)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, atol=1e-5)
    # float32-representable, as the ONNX model receives them
    assert (data.x_test.astype(np.float32) == data.x_test).all()
