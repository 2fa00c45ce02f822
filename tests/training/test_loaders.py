from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from fineweb_pipe.tokens import Manifest, read_index
from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.jax_data import JaxBatches

torch = pytest.importorskip("torch")
from fineweb_pipe.training.torch_data import TokenDataset  # noqa: E402  (needs torch)


def test_batches_are_the_shard_tokens_at_the_sampled_windows(shard_set) -> None:
    folder = shard_set()
    source = BatchSource(BatchConfig(str(folder), seq_len=32, batch_size=4, seed=1, document_starts=True))
    manifest = Manifest.load(str(folder))
    shards = manifest.split("train")
    tokens = [manifest.open_tokens(str(folder), s) for s in shards]
    starts = [read_index(os.path.join(folder, s.index)) for s in shards]
    positions = source.sampler.batch(0, 3)
    batch = source.read(positions)
    for row, (shard, offset) in enumerate(positions):
        window = np.asarray(tokens[shard][offset : offset + 33], dtype=np.int64)
        assert np.array_equal(batch["inputs"][row], window[:-1])
        assert np.array_equal(batch["targets"][row], window[1:])
        expected = [p - offset for p in starts[shard] if offset <= p < offset + 32]
        assert np.flatnonzero(batch["document_starts"][row]).tolist() == expected
        assert all(batch["inputs"][row][expected] == 0)  # the delimiter opens each document


def test_pickled_source_carries_no_token_data(shard_set) -> None:
    source = BatchSource(BatchConfig(str(shard_set()), seq_len=16, batch_size=2))
    source.read(source.sampler.batch(0, 0))  # maps the shards
    copy = pickle.loads(pickle.dumps(source))
    assert len(pickle.dumps(source)) < 4096 < Manifest.load(source.config.folder).totals["train"]["tokens"] * 2
    assert np.array_equal(copy.read(copy.sampler.batch(0, 1))["inputs"], source.read(source.sampler.batch(0, 1))["inputs"])


# Workers start from a fork server: pytest may have imported JAX, whose threads make a plain fork unsafe.
WORKER_CONTEXT = "forkserver"


def torch_batches(dataset: TokenDataset, count: int, num_workers: int) -> list[dict[str, np.ndarray]]:
    batches = dataset.loader(num_workers, multiprocessing_context=WORKER_CONTEXT)
    return [{k: v.numpy() for k, v in b.items()} for b in itertools.islice(batches, count)]


def assert_same(torch_side: list[dict[str, np.ndarray]], jax_side: list[dict[str, np.ndarray]]) -> None:
    assert len(torch_side) == len(jax_side)
    for a, b in zip(torch_side, jax_side):
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("num_workers", [0, 2])
def test_torch_and_jax_yield_identical_batches_across_epochs(shard_set, num_workers: int) -> None:
    config = BatchConfig(str(shard_set()), seq_len=24, batch_size=3, seed=7, document_starts=True)
    count = TokenDataset(config).source.batches_per_epoch() + 5  # run into the second epoch
    from_torch = torch_batches(TokenDataset(config), count, num_workers)
    from_jax = list(itertools.islice(JaxBatches(config), count))
    assert from_jax[0]["inputs"].dtype == np.int32 and from_torch[0]["inputs"].dtype == np.int64
    assert_same(from_torch, from_jax)


def test_state_dict_resumes_exactly_with_workers_and_across_frameworks(shard_set) -> None:
    config = BatchConfig(str(shard_set()), seq_len=24, batch_size=3, seed=7)
    reference = torch_batches(TokenDataset(config), 30, 0)
    first = TokenDataset(config)
    torch_batches(first, 11, num_workers=2)
    state = first.state_dict()
    assert state == {"epoch": 0, "batch": 11}  # prefetched but unread batches do not count

    resumed = TokenDataset(config)
    resumed.load_state_dict(state)
    assert_same(torch_batches(resumed, 19, num_workers=2), reference[11:])
    jax_resumed = JaxBatches(config)
    jax_resumed.load_state_dict(state)
    assert_same(list(itertools.islice(jax_resumed, 19)), reference[11:])
    assert jax_resumed.state_dict() == {"epoch": resumed.state_dict()["epoch"], "batch": resumed.state_dict()["batch"]}


def test_two_ranks_never_see_the_same_window(shard_set) -> None:
    folder = str(shard_set())
    seen = []
    for rank in range(2):
        config = BatchConfig(folder, seq_len=24, batch_size=3, seed=7, rank=rank, world_size=2)
        dataset = TokenDataset(config, epochs=1)
        seen.append({tuple(p) for _, pos in dataset.source.sampler.batches(epochs=1) for p in pos.tolist()})
        assert len(list(dataset.loader())) == dataset.source.batches_per_epoch()
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def test_a_folder_without_manifest_says_so(tmp_path) -> None:
    with pytest.raises(ValueError, match="manifest.json not found"):
        BatchSource(BatchConfig(str(tmp_path)))


def test_numpy_layers_and_cli_import_neither_torch_nor_jax() -> None:
    code = (
        "import sys, fineweb_pipe.training.batches, fineweb_pipe.training.jax_data, fineweb_pipe.training.cli;"
        "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
