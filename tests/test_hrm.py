"""HRM model: shapes, one-step gradient, ACT halting, masking, save/load, baselines, config errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hrm_agents.hrm.config import ConfigError, ModelConfig, model_config_from_dict  # noqa: E402
from hrm_agents.hrm.model import HRM, act_loss, load_model, log_stablemax, n_params, save_model  # noqa: E402

V, S, B = 20, 12, 6


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def make(**kw) -> HRM:
    base = dict(vocab_size=V, seq_len=S, hidden_size=32, num_heads=2, expansion=2.0, H_layers=1, L_layers=1,
                H_cycles=2, L_cycles=2, halt_max_steps=4)
    return HRM(ModelConfig(**{**base, **kw}))


def batch(n: int = B) -> dict[str, torch.Tensor]:
    inputs = torch.randint(3, V, (n, S))
    inputs[:, 9:] = 0  # trailing pads
    labels = torch.full((n, S), -100)
    labels[:, 5:9] = torch.randint(0, V, (n, 4))
    return {"inputs": inputs, "labels": labels, "k": torch.full((n,), 2)}


def test_shapes_forward_and_predict():
    m = make()
    b = batch()
    carry, out = m(m.initial_carry(b), b)
    assert out["logits"].shape == (B, S, V)
    assert out["q_halt_logits"].shape == out["q_continue_logits"].shape == (B,)
    assert carry.z_H.shape == carry.z_L.shape == (B, S, 32)
    assert carry.steps.tolist() == [1] * B
    m.eval()
    pred = m.predict(b["inputs"])
    assert pred.tokens.shape == (B, S) and pred.steps.shape == pred.q_halt_prob.shape == (B,)
    assert ((pred.q_halt_prob >= 0) & (pred.q_halt_prob <= 1)).all()


def test_one_step_gradient_runs_only_the_last_updates_with_grad():
    m = make(H_cycles=3, L_cycles=2)
    calls = {"L": [], "H": []}
    m.core.L_level.register_forward_hook(lambda *_: calls["L"].append(torch.is_grad_enabled()))
    m.core.H_level.register_forward_hook(lambda *_: calls["H"].append(torch.is_grad_enabled()))
    m.eval()  # no ACT target pass, so only one segment runs
    b = batch()
    m(m.initial_carry(b), b)
    assert calls["L"] == [False] * 5 + [True]  # H_cycles * L_cycles updates, only the last with grad
    assert calls["H"] == [False] * 2 + [True]


@pytest.mark.parametrize("cycles, flows", [((2, 2), False), ((1, 1), True)])
def test_no_gradient_reaches_the_state_through_no_grad_steps(cycles, flows):
    m = make(H_cycles=cycles[0], L_cycles=cycles[1])
    x, rope, mask = m.encode(batch()["inputs"])
    z_H = torch.randn(B, S, 32, requires_grad=True)
    z_L = torch.randn(B, S, 32, requires_grad=True)
    new_H, _ = m.core(z_H, z_L, x, rope, mask)
    new_H.sum().backward()
    # with more than one update, z_L only enters through no_grad steps; with 1x1 the control case shows
    # that the test can see a gradient when there is one
    assert (z_L.grad is not None) == flows


def test_one_step_gradient_equals_a_graph_of_the_last_step_only():
    m = make()
    b = batch()
    x, rope, mask = m.encode(b["inputs"])
    h0, l0 = m._fresh_state(B, S)
    m.core(h0, l0, x, rope, mask)[0].pow(2).mean().backward()
    got = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    with torch.no_grad():  # the same no-grad prefix, written out by hand
        z_H, z_L = h0, l0
        z_L = m.core.L_level(z_L, z_H + x, rope, mask)
        z_H = m.core.H_level(z_H, z_L, rope, mask)
        z_L = m.core.L_level(z_L, z_H + x, rope, mask)
    x, rope, mask = m.encode(b["inputs"])
    z_L = m.core.L_level(z_L, z_H + x, rope, mask)
    m.core.H_level(z_H, z_L, rope, mask).pow(2).mean().backward()
    want = {n: p.grad for n, p in m.named_parameters() if p.grad is not None}
    assert got.keys() == want.keys() and "embed.weight" in got
    for name in got:
        torch.testing.assert_close(got[name], want[name], msg=name)


def _set_q(m: HRM, halt: float, cont: float) -> None:
    with torch.no_grad():
        m.q_head.weight.zero_()
        m.q_head.bias.copy_(torch.tensor([halt, cont]))


def test_act_runs_to_max_steps_when_q_never_says_halt():
    m = make().eval()  # init: q_halt == q_continue, so "halt" (strictly greater) never fires
    assert m.predict(batch()["inputs"]).steps.tolist() == [4] * B
    assert m.predict(batch()["inputs"], max_steps=7).steps.tolist() == [7] * B


def test_act_halts_early_at_eval_when_q_halt_exceeds_q_continue():
    m = make().eval()
    _set_q(m, 5.0, -5.0)
    assert m.predict(batch()["inputs"]).steps.tolist() == [1] * B


def test_act_training_halts_and_exploration_forces_more_steps():
    m = make(halt_exploration_prob=0.0).train()
    _set_q(m, 5.0, -5.0)
    b = batch(64)
    carry, out = m(m.initial_carry(b), b)
    assert carry.halted.all()
    assert "target_q_continue" in out and ((out["target_q_continue"] >= 0) & (out["target_q_continue"] <= 1)).all()
    m.config.halt_exploration_prob = 1.0  # each step, halting needs steps >= a fresh draw of U{2..max}
    carry, _ = m(m.initial_carry(b), b)
    assert not carry.halted.any()
    halted_at = []
    for _ in range(6):
        carry, _ = m(carry, b)
        halted_at += carry.steps[carry.halted].tolist()
        assert (carry.steps <= 4).all()
    assert set(halted_at) == {2, 3, 4}


def test_other_halting_modes():
    b = batch(32)
    m = make(halt_mode="fixed").eval()
    _set_q(m, 5.0, -5.0)  # fixed ignores the Q-head
    assert m.predict(b["inputs"]).steps.tolist() == [4] * 32
    m.train()
    carry, out = m(m.initial_carry(b), b)
    assert "target_q_continue" not in out and not carry.halted.any()
    steps = make(halt_mode="random").eval().predict(b["inputs"], max_steps=8).steps
    assert steps.min() >= 1 and steps.max() <= 8 and len(set(steps.tolist())) > 1
    m = make(halt_mode="equilibrium", equilibrium_tol=1e9).eval()  # any residual counts as converged
    assert m.predict(b["inputs"]).steps.tolist() == [2] * 32  # never at step 1 (no previous state)
    m = make(halt_mode="equilibrium", equilibrium_tol=0.0).eval()
    assert m.predict(b["inputs"]).steps.tolist() == [4] * 32


def test_pads_are_masked_so_trimming_and_extra_padding_change_nothing():
    m = make().eval()
    b = batch()
    wide = torch.cat([b["inputs"], torch.zeros(B, 10, dtype=torch.long)], 1)  # longer than seq_len too
    shifted = torch.cat([torch.zeros(B, 3, dtype=torch.long), b["inputs"]], 1)
    p, pw, ps = m.predict(b["inputs"]), m.predict(wide), m.predict(shifted)
    assert torch.equal(p.tokens[:, :9], pw.tokens[:, :9]) and torch.equal(p.tokens[:, :9], ps.tokens[:, 3:12])
    torch.testing.assert_close(p.q_halt_prob, pw.q_halt_prob)
    x, rope, mask = m.encode(b["inputs"])
    assert not mask[:, 0, 0, 9:].any() and mask[:, 0, 0, :9].all()


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    m = make().eval()
    inputs = batch()["inputs"]
    save_model(m, tmp_path / "fp32", meta={"note": "x"})
    loaded, meta = load_model(tmp_path / "fp32")
    assert meta == {"note": "x"} and loaded.config == m.config
    a, b = m.predict(inputs), loaded.predict(inputs)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.steps, b.steps)
    x = m.encode(inputs)
    torch.testing.assert_close(m.core(*m._fresh_state(B, S), *x)[0], loaded.core(*loaded._fresh_state(B, S), *x)[0],
                               rtol=0, atol=0)
    save_model(m, tmp_path / "bf16", dtype=torch.bfloat16)
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < (tmp_path / "fp32" / "model.safetensors").stat().st_size
    half, _ = load_model(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in half.parameters())


def test_plain_transformer_baselines():
    hrm = make()
    flat = make(arch="transformer", halt_max_steps=1)
    assert n_params(flat) == n_params(hrm)  # matched parameter count: H_layers + L_layers blocks
    deep = make(arch="transformer", halt_max_steps=1, transformer_layers=hrm.config.deep_transformer_layers())
    assert len(deep.core.stack.layers) == 2 * (2 * 1 + 1)
    b = batch()
    carry, out = flat(flat.initial_carry(b), b)
    assert carry.halted.all() and out["logits"].shape == (B, S, V)
    out["logits"].sum().backward()
    assert all(p.grad is not None for p in flat.core.parameters())  # full backprop, no no_grad prefix
    with pytest.raises(ConfigError, match="halt_max_steps=1"):
        ModelConfig(vocab_size=V, seq_len=S, arch="transformer")


def test_losses_and_stats():
    m = make()
    b = batch()
    carry, out = m(m.initial_carry(b), b)
    steps_lab = torch.full_like(b["labels"], -100)
    steps_lab[:, 1] = 3
    for loss_type in ("softmax", "stablemax"):
        loss, stats = act_loss(out, carry.data["labels"], loss_type=loss_type, step_labels=steps_lab, step_weight=1.0)
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert stats["exact"].shape == (B,) and stats["token_acc"].max() <= 1
    base, _ = act_loss(out, carry.data["labels"])
    with_steps, _ = act_loss(out, carry.data["labels"], step_labels=steps_lab, step_weight=1.0)
    assert with_steps > base
    probs = log_stablemax(torch.randn(4, 7)).exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown model config key"):
        model_config_from_dict({"vocab_size": 5, "seq_len": 4, "hidden": 3})
    with pytest.raises(ConfigError, match="heads"):
        ModelConfig(vocab_size=5, seq_len=4, hidden_size=30, num_heads=4)
    with pytest.raises(ConfigError, match="halt_mode"):
        ModelConfig(vocab_size=5, seq_len=4, halt_mode="sometimes")
