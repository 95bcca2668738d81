"""zoo.transfer._pooling: one vector per input from feature maps, token sequences and pooled outputs."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import DatasetError
from zoo.transfer._pooling import POOLS, check_pool, default_pool, pool


@pytest.fixture(scope="module")
def maps() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(3, 5, 4, 6)).astype(np.float32)


def test_names_and_defaults() -> None:
    assert POOLS == ("avg", "max", "mean", "cls", "none", "mean_sqrt_len", "weightedmean", "lasttoken")
    assert default_pool("vision") == "avg" and default_pool("text") == "mean"
    for how in (*POOLS, "cls+mean", "lasttoken+max+weightedmean"):
        assert check_pool(how) == how
    with pytest.raises(ValueError, match="unknown pooling 'gem'; use one of avg, max, mean, cls, none, mean_sqrt_len, weightedmean, lasttoken"):
        check_pool("gem")
    with pytest.raises(ValueError, match="only token poolings combine"):
        check_pool("mean+none")
    with pytest.raises(ValueError, match="names a pooling twice"):
        check_pool("mean+mean")
    with pytest.raises(ValueError, match="unknown pooling 'Avg'"):
        pool(np.zeros((1, 2, 3, 3)), "Avg")


def test_feature_maps(maps: np.ndarray) -> None:
    n, c, h, w = maps.shape
    avg, mx, flat = pool(maps, "avg"), pool(maps, "max"), pool(maps, "none")
    for out, dims in ((avg, c), (mx, c), (flat, c * h * w)):
        assert out.shape == (n, dims) and out.dtype == np.float32 and out.flags.c_contiguous
    # Against plain loops over each input and channel.
    for i in range(n):
        for k in range(c):
            assert avg[i, k] == pytest.approx(float(np.mean(maps[i, k].astype(np.float64))), abs=1e-6)
            assert mx[i, k] == maps[i, k].max()
    np.testing.assert_array_equal(flat[1], maps[1].ravel())
    # A video map (N, C, T, H, W) pools over time too.
    video = np.random.default_rng(1).normal(size=(2, 3, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(pool(video, "avg"), video.reshape(2, 3, -1).mean(-1), atol=1e-6)
    np.testing.assert_array_equal(pool(video, "max"), video.reshape(2, 3, -1).max(-1))


def test_other_dtypes_and_lists_become_float32() -> None:
    out = pool(np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2), "avg")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [1.5, 5.5, 9.5])
    assert pool([[1, 2], [3, 4]], "avg").dtype == np.float32


def test_maps_refuse_token_poolings(maps: np.ndarray) -> None:
    for how in ("cls", "mean"):
        with pytest.raises(DatasetError, match=rf"pooling '{how}' is for token sequences; .*\(3, 5, 4, 6\): use avg or max") as info:
            pool(maps, how)
        assert info.value.field == "pool" and isinstance(info.value, ValueError)


def _tokens(rng: np.random.Generator, t: int, d: int = 8) -> np.ndarray:
    return rng.normal(size=(t, d)).astype(np.float32)


def test_padding_does_not_change_a_row() -> None:
    """A sequence pooled alone equals the same sequence padded in a batch, for every token pooling."""
    rng = np.random.default_rng(2)
    short, long = _tokens(rng, 3), _tokens(rng, 7)
    padded = np.zeros((2, 7, 8), np.float32)
    padded[0, :3], padded[1] = short, long
    padded[0, 3:] = 1e3 * rng.normal(size=(4, 8))  # junk where a transformer leaves padding outputs
    mask = np.array([[1] * 3 + [0] * 4, [1] * 7], np.int64)
    for how in ("avg", "mean", "max", "cls"):
        batch = pool(padded, how, mask)
        alone = pool(short[None], how, np.ones((1, 3), np.int64))
        assert batch.shape == (2, 8)
        np.testing.assert_allclose(batch[0], alone[0], rtol=1e-6, atol=1e-6, err_msg=how)
        np.testing.assert_allclose(batch[1], pool(long[None], how)[0], rtol=1e-6, atol=1e-6, err_msg=how)
    # The rule itself: sentence-transformers' mask-weighted mean, and the max over real tokens only.
    np.testing.assert_allclose(pool(padded, "mean", mask)[0], short.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pool(padded, "max", mask)[0], short.max(0))
    np.testing.assert_array_equal(pool(padded, "cls", mask)[0], short[0])
    # Without a mask every position counts: the junk shows.
    assert np.abs(pool(padded, "mean")[0] - short.mean(0)).max() > 1.0


def test_an_all_padding_row_stays_finite_under_mean() -> None:
    out = pool(np.ones((2, 3, 4), np.float32), "mean", np.array([[1, 1, 0], [0, 0, 0]]))
    np.testing.assert_array_equal(out, [[1, 1, 1, 1], [0, 0, 0, 0]])


def test_none_on_tokens() -> None:
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(pool(x, "none"), x.reshape(2, 12))  # fixed-size tokens (a ViT) flatten
    with pytest.raises(DatasetError, match="pooling 'none' needs a fixed-size output; texts vary in length"):
        pool(x, "none", np.ones((2, 4)))


def test_a_mask_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"attention mask of shape \(2, 5\) does not fit the tokens \(2, 4, 3\)"):
        pool(np.zeros((2, 4, 3), np.float32), "mean", np.ones((2, 5)))


def test_pooled_outputs_pass_through() -> None:
    x = np.random.default_rng(4).normal(size=(3, 16)).astype(np.float32)
    for how in POOLS:
        np.testing.assert_array_equal(pool(x, how), x)
    with pytest.raises(ValueError, match="one vector per input"):
        pool(np.zeros(5, np.float32), "avg")


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("prompt_length", [0, 2])
def test_token_poolings_equal_sentence_transformers(side: str, prompt_length: int) -> None:
    """Every mode (and several at once) against sentence-transformers' own Pooling module, padded either side."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling

    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 7, 6)).astype(np.float32)
    mask = np.zeros((4, 7), np.int64)
    for row, n in enumerate([7, 4, 3, 5]):
        if side == "left":
            mask[row, 7 - n :] = 1
        else:
            mask[row, :n] = 1
    names = {"mean_sqrt_len": "mean_sqrt_len_tokens"}
    for how in ["mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken", "cls+max+mean", "lasttoken+weightedmean"]:
        modes = tuple(names.get(m, m) for m in how.split("+"))
        st = Pooling(6, pooling_mode=modes if len(modes) > 1 else modes[0], include_prompt=prompt_length == 0)
        features = {"token_embeddings": torch.from_numpy(x), "attention_mask": torch.from_numpy(mask)}
        if prompt_length:
            features["prompt_length"] = prompt_length
        want = st(features)["sentence_embedding"].numpy()
        got = pool(x, how, mask, prompt_length=prompt_length)
        assert got.shape == want.shape == (4, 6 * len(modes))
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6, err_msg=f"{how} {side} prompt {prompt_length}")


def test_normalize_is_l2() -> None:
    from zoo.transfer._pooling import normalize

    out = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32
