"""The deterministic RNG and the BatchSource ordering rules (sharding, resume, Dataset view); no data needed."""

from __future__ import annotations

import pytest
import torch

from stnlab.data import as_torch_dataset
from stnlab.data.rng import make_key, mix, permutation, randint, uniform
from stnlab.data.source import BatchSource
from stnlab.errors import StnlabError

MASK = (1 << 64) - 1


def splitmix_reference(z: int) -> int:
    """SplitMix64 in pure Python integers (the published constants)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class ToySource(BatchSource):
    """Image of sample i = i + a random draw; exposes the ordering logic without any data."""

    num_classes = 3
    image_shape = (1, 2, 2)

    def __init__(self, n: int, seed: int = 0, split: str = "train") -> None:
        super().__init__("toy", split, seed)
        self.num_samples = n

    def render(self, index, epoch):
        u = uniform(self.epoch_key(epoch), index, 4).float().reshape(-1, 1, 2, 2)
        return u + index.float()[:, None, None, None], index % 3, {"u": u[:, 0, 0, 0]}


def test_mix_matches_pure_python_splitmix():
    import numpy as np

    values = [0, 1, 2**63, MASK, 123456789]
    got = mix(np.array(values, dtype=np.uint64))
    assert [int(v) for v in got] == [splitmix_reference(v) for v in values]


def test_uniform_is_a_function_of_key_index_and_stream():
    key = make_key(0, "x", "train", 3)
    u = uniform(key, torch.arange(1000), 5)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.02
    # the same sample index gives the same draws wherever it appears
    assert torch.equal(uniform(key, torch.tensor([7, 3]), 5), u[[7, 3]])
    assert torch.equal(uniform(key, torch.arange(10), 2, stream=3), u[:10, 3:5])
    assert not torch.equal(uniform(make_key(1, "x", "train", 3), torch.arange(10), 5), u[:10])
    r = randint(key, torch.arange(5000), 1, 7)
    assert set(r.unique().tolist()) == set(range(7))


def test_permutation_is_a_permutation_and_key_dependent():
    p = permutation(5, 1000)
    assert torch.equal(p.sort().values, torch.arange(1000))
    assert torch.equal(p, permutation(5, 1000))
    assert not torch.equal(p, permutation(6, 1000))


def test_shards_are_disjoint_equal_length_and_cover_the_global_batches():
    src = ToySource(103)
    full = list(src.batches(10, epoch=2))
    assert [len(b.index) for b in full] == [10] * 10 + [3]
    assert torch.equal(torch.cat([b.index for b in full]).sort().values, torch.arange(103))
    w = 3
    shards = [list(src.batches(10, epoch=2, rank=r, world_size=w)) for r in range(w)]
    assert {len(s) for s in shards} == {src.num_batches(10, world_size=w)} == {3}
    for r, shard in enumerate(shards):
        for k, batch in enumerate(shard):
            assert torch.equal(batch.images, full[r + k * w].images)  # global batch r + k w
    seen = torch.cat([b.index for s in shards for b in s])
    assert len(seen.unique()) == len(seen)  # disjoint


def test_resume_from_start_batch_equals_the_tail_of_the_full_epoch():
    src = ToySource(50)
    full = list(src.batches(8, epoch=1, return_params=True))
    tail = list(src.batches(8, epoch=1, start_batch=4, return_params=True))
    assert len(tail) == len(full) - 4
    for a, b in zip(full[4:], tail):
        assert torch.equal(a.images, b.images) and torch.equal(a.params["u"], b.params["u"])


def test_shuffle_order_depends_on_seed_and_epoch_and_test_is_unshuffled():
    a = next(ToySource(100).batches(100, epoch=0)).index
    assert not torch.equal(a, torch.arange(100))
    assert not torch.equal(a, next(ToySource(100).batches(100, epoch=1)).index)
    assert not torch.equal(a, next(ToySource(100, seed=1).batches(100, epoch=0)).index)
    assert torch.equal(next(ToySource(100, split="test").batches(100)).index, torch.arange(100))
    assert ToySource(100).num_batches(30, drop_last=True) == 3
    assert [len(b.index) for b in ToySource(100).batches(30, drop_last=True)] == [30] * 3


def test_dataset_view_matches_batches():
    src = ToySource(20)
    batch = next(src.batches(20, epoch=4))
    ds = as_torch_dataset(src, epoch=4)
    assert len(ds) == 20
    for row, i in enumerate(batch.index.tolist()[:5]):
        image, label = ds[i]
        assert torch.equal(image, batch.images[row]) and label == batch.labels[row]
    with pytest.raises(IndexError):
        ds[20]


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"batch_size": 4, "rank": 2, "world_size": 2}, {"batch_size": 4, "start_batch": -1}]
)
def test_bad_batch_arguments_raise_stnlab_error(kwargs):
    with pytest.raises(StnlabError):
        next(ToySource(10).batches(**kwargs))


def test_unknown_split_is_refused():
    with pytest.raises(StnlabError, match="unknown split"):
        ToySource(10, split="dev")


def test_dataloader_over_the_dataset_view_gives_the_same_batches():
    from torch.utils.data import DataLoader

    src = ToySource(30, split="test")
    loaded = list(DataLoader(as_torch_dataset(src, epoch=2), batch_size=8))
    direct = list(src.batches(8, epoch=2))
    assert len(loaded) == len(direct) == 4
    for (images, labels), batch in zip(loaded, direct):
        assert torch.allclose(images, batch.images) and torch.equal(labels, batch.labels)
