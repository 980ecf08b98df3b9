import numba
import numpy as np
import pytest

from ganviz import nearest_l1
from ganviz.data import to_model_scale
from ganviz.data.doodles import make_doodles
from ganviz.view.neighbours import L1Index, nearest_l1_numpy


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


def test_out_of_range_queries_are_still_exact(refs):
    q = np.random.default_rng(2).uniform(-3, 3, (4, 784)).astype(np.float32)
    _check(q, refs)


def test_a_prepared_index_gives_the_same_answer(refs):
    q = np.random.default_rng(3).uniform(-1, 1, (5, 28, 28)).astype(np.float32)
    index = L1Index.build(refs)
    assert len(index) == 3000 and sorted(index.order) == list(range(784))
    i1, d1 = nearest_l1(q, index)
    i2, d2 = nearest_l1(q, refs)
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)


def test_bad_shapes_are_refused(refs):
    with pytest.raises(ValueError, match="pixels"):
        nearest_l1(np.zeros((1, 10), np.float32), refs)
    with pytest.raises(ValueError, match="no reference"):
        nearest_l1(np.zeros((1, 784), np.float32), np.zeros((0, 784), np.float32))
    i, d = nearest_l1(np.zeros((0, 784), np.float32), refs)
    assert i.shape == d.shape == (0,)


def test_tile_sums_bound_the_l1_distance_from_below(refs):
    """The bound that lets the search skip references: sum |tile sums of a - of b| <= sum |a - b|."""
    from ganviz.view.neighbours import tile_sums, to_rows
    rng = np.random.default_rng(4)
    a = np.concatenate([to_rows(refs[:200]), rng.uniform(-3, 3, (50, 784)).astype(np.float32)])
    b = np.concatenate([to_rows(refs[200:400]), rng.uniform(-1, 1, (50, 784)).astype(np.float32)])
    lower = np.abs(tile_sums(a) - tile_sums(b)).sum(axis=1)
    l1 = np.abs(a.astype(np.float64) - b).sum(axis=1)
    assert np.all(lower <= l1 + 1e-3)
    assert np.median(lower[:200] / l1[:200]) > 0.5  # and a tight one for drawings (0.69 here)


def test_one_thread_gives_the_same_answer_and_leaves_the_pool_as_it_was(refs):
    q = np.random.default_rng(4).uniform(-1, 1, (7, 28, 28)).astype(np.float32)
    index, threads = L1Index.build(refs), numba.get_num_threads()
    i1, d1 = nearest_l1(q, index, threads=1)
    i2, d2 = nearest_l1(q, index)
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)
    assert numba.get_num_threads() == threads
