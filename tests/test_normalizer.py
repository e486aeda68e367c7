from __future__ import annotations

import pytest
import torch

from inril.policies.normalizer import MinMaxNormalizer


def test_round_trip_and_range():
    data = torch.randn(500, 6) * torch.tensor([1, 10, 0.1, 5, 2, 3]) + 7
    norm = MinMaxNormalizer.fit(data)
    y = norm.normalize(data)
    assert torch.allclose(y.amin(0), -torch.ones(6), atol=1e-5) and torch.allclose(y.amax(0), torch.ones(6), atol=1e-5)
    assert torch.allclose(norm.unnormalize(y), data, atol=1e-4)


def test_constant_dimension_maps_to_zero_and_back():
    data = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    norm = MinMaxNormalizer.fit(data)
    assert torch.equal(norm.normalize(data)[:, 1], torch.zeros(3))
    assert torch.allclose(norm.unnormalize(norm.normalize(data)), data)


def test_clip_applies_to_out_of_range_inputs_and_is_saved():
    norm = MinMaxNormalizer.fit(torch.tensor([[0.0], [1.0]]), clip=3.0)
    assert norm.normalize(torch.tensor([[100.0], [-100.0]])).flatten().tolist() == [3.0, -3.0]
    restored = MinMaxNormalizer.empty(1)
    restored.load_state_dict(norm.state_dict())
    assert restored.normalize(torch.tensor([[100.0]])).item() == 3.0


def test_bad_bounds():
    with pytest.raises(ValueError, match="low <= high"):
        MinMaxNormalizer(torch.tensor([1.0]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="finite"):
        MinMaxNormalizer(torch.tensor([float("nan")]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="empty"):
        MinMaxNormalizer.fit(torch.zeros(0, 3))
