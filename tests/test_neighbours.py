import numpy as np
import pytest

from ganviz import nearest_l1
from ganviz.data import to_model_scale
from ganviz.doodles import make_doodles
from ganviz.neighbours import nearest_l1_numpy


@pytest.fixture(scope="module")
def refs():
    return make_doodles(3000, "camel", seed=5).reshape(-1, 28, 28)


def _check(queries, refs):
    i, d = nearest_l1(queries, refs)
    i0, d0 = nearest_l1_numpy(queries, refs)
    assert np.abs(d - d0).max() < 1e-6
    # identical indices, except where two references are at the same distance (a true tie)
    assert all(a == b or abs(d0[k] - np.abs(to_model_scale(refs[a]).ravel() - np.asarray(queries[k]).ravel()).mean()) < 1e-6
               for k, (a, b) in enumerate(zip(i, i0)))
    return i, d


def test_matches_brute_force_on_noisy_real_images(refs):
    rng = np.random.default_rng(0)
    q = np.clip(to_model_scale(refs[rng.integers(0, 3000, 20)]) + rng.normal(0, 0.2, (20, 28, 28, 1)), -1, 1)
    _check(q.astype(np.float32), refs)


def test_matches_brute_force_on_uniform_noise(refs):
    q = np.random.default_rng(1).uniform(-1, 1, (10, 28, 28, 1)).astype(np.float32)
    _check(q, refs)


def test_training_images_find_themselves(refs):
    i, d = nearest_l1(refs[[7, 99, 2500]], refs)
    assert np.all(d == 0)
    assert all(np.array_equal(refs[a], refs[b]) for a, b in zip(i, [7, 99, 2500]))


def test_the_books_l1_definition():
    a = np.zeros((1, 28, 28), np.uint8)
    b = np.full((2, 28, 28), 255, np.uint8)
    b[1, :14] = 0
    i, d = nearest_l1(a, b)
    assert i[0] == 1 and d[0] == pytest.approx(1.0)  # half the pixels differ by 2 on [-1, 1]


def test_out_of_range_queries_fall_back_to_brute_force(refs):
    q = np.random.default_rng(2).uniform(-3, 3, (4, 784)).astype(np.float32)
    _check(q, refs)
