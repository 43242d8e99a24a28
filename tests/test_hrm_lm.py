"""The causal language models (HRM-LM and plain LM): causality, KV-cache decoding, sampling, save/load."""

import pytest

torch = pytest.importorskip("torch")

from hrm_agents.hrm.config import ConfigError, ModelConfig  # noqa: E402
from hrm_agents.hrm.layers import KVCache  # noqa: E402
from hrm_agents.hrm.lm import CausalLM, sample  # noqa: E402
from hrm_agents.hrm.model import load_model, save_model  # noqa: E402

ARCHS = [("hrm_lm", 2), ("lm", 1)]


def _model(arch: str, segments: int) -> CausalLM:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=40, seq_len=16, arch=arch, hidden_size=32, num_heads=4, expansion=2.0,
                      H_layers=1, L_layers=2, H_cycles=2, L_cycles=2, transformer_layers=2,
                      halt_mode="fixed", halt_max_steps=segments)
    return CausalLM(cfg).eval()


@pytest.mark.parametrize("arch,segments", ARCHS)
def test_future_tokens_do_not_change_past_logits(arch, segments):
    m = _model(arch, segments)
    x = torch.randint(2, 40, (3, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1 + torch.randint(0, 30, (3, 5))) % 38 + 2  # every future token changed
    a, b = m.logits(x), m.logits(y)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=0)
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-3  # and the future positions do see them


@pytest.mark.parametrize("arch,segments", ARCHS)
def test_kv_cache_decoding_equals_full_forward(arch, segments):
    """Prefill + one token at a time through the cache gives the full pass's logits at every position,
    also for left-padded rows of a batch."""
    m = _model(arch, segments)
    seqs = [torch.randint(2, 40, (9,)).tolist(), torch.randint(2, 40, (7,)).tolist()]
    plen = [5, 3]  # prompts of different lengths, left-padded to width 5; then 4 tokens one at a time
    rows = torch.tensor([[0] * (5 - n) + s[:n] for n, s in zip(plen, seqs)])
    valid = rows != 0
    mask = torch.ones(5, 5, dtype=torch.bool).tril() & (valid[:, None, None, :] | torch.eye(5, dtype=torch.bool))
    cache = KVCache()
    with torch.no_grad():
        got = [m._step(rows, 0, mask, cache)]
        for j in range(4):
            nxt = torch.tensor([[s[n + j]] for n, s in zip(plen, seqs)])
            valid = torch.cat((valid, torch.ones(2, 1, dtype=torch.bool)), 1)
            got.append(m._step(nxt, 5 + j, valid[:, None, None, :], cache))
        for i, (n, s) in enumerate(zip(plen, seqs)):
            full = m.logits(torch.tensor([s]))[0]
            for j, g in enumerate(got):
                torch.testing.assert_close(g[i], full[n - 1 + j], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch,segments", ARCHS)
def test_kv_bytes_per_position_is_what_the_cache_holds(arch, segments):
    """The generation planner's memory estimate: every attention call of every segment, keys and values."""
    m = _model(arch, segments)
    cache = KVCache(6)
    with torch.no_grad():
        m._step(torch.randint(2, 40, (3, 6)), 0, torch.ones(6, 6, dtype=torch.bool).tril(), cache)
    held = sum(t.numel() * t.element_size() for slot in cache.slots for t in slot)
    assert held == 3 * 6 * m.kv_bytes_per_position(4)


@pytest.mark.parametrize("arch,segments", ARCHS)
def test_greedy_generate_matches_recomputing_each_step(arch, segments):
    m = _model(arch, segments)
    prompts = [[5, 6, 7, 8, 9], [11, 12]]
    out = m.generate(prompts, 6, eos_id=1)
    for p, o in zip(prompts, out):
        seq = list(p)
        for _ in range(len(o)):
            seq.append(int(m.logits(torch.tensor([seq]))[0, -1].argmax()))
        assert o == seq[len(p):]


def test_generate_stops_at_eos_and_samples_reproducibly():
    m = _model("hrm_lm", 2)
    with torch.no_grad():
        m.lm_head.weight.zero_()
        m.lm_head.weight[1] = 0  # all logits equal: greedy picks id 0 ...
    assert m.generate([[3, 4]], 5, eos_id=0) == [[]]  # ... which is EOS here: nothing returned
    g1, g2 = (torch.Generator().manual_seed(7) for _ in range(2))
    a = m.generate([[3, 4]] * 4, 5, eos_id=39, temperature=0.8, generator=g1)
    b = m.generate([[3, 4]] * 4, 5, eos_id=39, temperature=0.8, generator=g2)
    assert a == b and len({tuple(r) for r in a}) > 1  # seeded, and rows differ


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    draws = {int(sample(logits, 1.0, 0.7, torch.Generator().manual_seed(i))) for i in range(200)}
    assert draws == {0, 1}  # 0.5 < 0.7 needs token 1; 0.8 >= 0.7 stops there
    assert int(sample(logits, 0.0, 1.0)) == 0


def test_lm_configs_validate_and_round_trip(tmp_path):
    with pytest.raises(ConfigError):
        ModelConfig(vocab_size=10, seq_len=8, arch="hrm_lm", halt_mode="act")
    m = _model("hrm_lm", 2)
    save_model(m, tmp_path / "ck", meta={"kind": "lm"})
    loaded, meta = load_model(tmp_path / "ck")
    assert isinstance(loaded, CausalLM) and meta == {"kind": "lm"}
    x = torch.randint(2, 40, (1, 6))
    torch.testing.assert_close(loaded.logits(x), m.logits(x))


def test_code_lm_checkpoint_serves_as_a_chat_model(tmp_path):
    """A tiny HRM-LM checkpoint with its tokenizer answers through make_backend("hrm") like an LLM."""
    pytest.importorskip("tokenizers")
    from hrm_agents.backends import GenParams, make_backend
    from hrm_agents.hrm.code_data import train_tokenizer

    tok = train_tokenizer(["def add(a, b):\n    return a + b\n", '"""\nAdd two numbers.\n"""\n'] * 20, 300)
    cfg = ModelConfig(vocab_size=tok.get_vocab_size(), seq_len=32, arch="hrm_lm", hidden_size=32, num_heads=4,
                      expansion=2.0, H_layers=1, L_layers=1, halt_mode="fixed", halt_max_steps=2)
    torch.manual_seed(0)
    save_model(CausalLM(cfg), tmp_path / "ck", meta={"kind": "code_lm"})
    tok.save(str(tmp_path / "ck" / "tokenizer.json"))
    backend = make_backend("hrm", model=str(tmp_path / "ck"))
    out = backend.complete([{"role": "user", "content": "Write a function add(a, b)."}],
                           GenParams(max_tokens=6, n=3, temperature=0.8, seed=1))
    assert len(out.texts) == 3 and all(t.startswith("```python\n") and t.endswith("\n```") for t in out.texts)
    assert 0 < out.completion_tokens <= 18 and out.finish_reason in ("stop", "length")
    again = backend.complete([{"role": "user", "content": "Write a function add(a, b)."}],
                             GenParams(max_tokens=6, n=3, temperature=0.8, seed=1))
    assert again.texts == out.texts  # seeded
    assert backend.describe()["arch"] == "hrm_lm"
    (tmp_path / "ck" / "tokenizer.json").unlink()
    with pytest.raises(Exception, match="tokenizer.json"):
        make_backend("hrm", model=str(tmp_path / "ck"))
