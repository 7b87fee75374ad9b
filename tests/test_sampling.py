"""The CPU sampler draws from exactly the distribution transformers' sampling draws from."""

import torch
from transformers import TemperatureLogitsWarper, TopPLogitsWarper

from bonito_hub.generate.sampling import TopPSampler


def reference(scores: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """transformers' own: temperature, then top-p, then the softmax multinomial samples from."""
    warped = TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, scores.clone()))
    return torch.softmax(warped, dim=-1)


def test_it_keeps_the_tokens_transformers_keeps():
    torch.manual_seed(0)
    for vocab, top_p in ((50, 0.95), (8000, 0.95), (300, 0.5), (20, 1.0)):
        scores = torch.randn(6, vocab) * 3
        expected = reference(scores, 0.5, top_p) > 0
        for _ in range(3):
            picked = TopPSampler(0.5, top_p)(None, scores).argmax(dim=-1)
            assert expected[torch.arange(6), picked].all()  # never a token transformers drops
    peaked = torch.tensor([[10.0, 0.0, 0.0, -5.0]])  # the most likely token alone holds more than top_p
    assert all(TopPSampler(1.0, 0.5)(None, peaked).argmax().item() == 0 for _ in range(20))


def test_its_frequencies_match_the_distribution():
    torch.manual_seed(1)
    scores = torch.randn(1, 12) * 2
    probs = reference(scores, 0.7, 0.9)[0]
    rows = scores.expand(20000, -1).contiguous()
    torch.manual_seed(2)
    picked = TopPSampler(0.7, 0.9)(None, rows).argmax(dim=-1)
    counts = torch.bincount(picked, minlength=12).float() / len(picked)
    assert torch.allclose(counts, probs, atol=0.015), (counts, probs)
    assert counts[probs == 0].sum() == 0


def test_the_seed_fixes_the_draws_and_the_output_is_one_token_a_row():
    scores = torch.randn(4, 100)
    torch.manual_seed(5)
    a = TopPSampler(0.5, 0.95)(None, scores)
    torch.manual_seed(5)
    b = TopPSampler(0.5, 0.95)(None, scores)
    assert torch.equal(a, b)
    assert ((a == 0).sum(dim=-1) == 1).all() and torch.isinf(a).sum() == 4 * 99
