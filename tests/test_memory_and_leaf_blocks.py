import pytest
import torch
import torch.nn.functional as F

from ssfer_core.memory import InstanceMemory
from ssfer_core.models.leaf_blocks import MapMixtureOfExperts, MixtureOfExperts


def test_instance_scores_by_hand():
    mem = InstanceMemory(n_labeled=3, dim=2, num_classes=3)
    mem.write_labeled(torch.tensor([0, 1, 2]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), torch.tensor([0, 1, 1]))
    q = torch.tensor([[0.8, 0.6], [-1.0, 0.0]])
    s = mem.class_scores(q)
    # class 0: cos to (1,0) = .8 ; class 1: max(cos to (0,1)=.6, (.6,.8)=.96) ; class 2: empty -> 0
    assert torch.allclose(s[0], torch.tensor([0.8, 0.96, 0.0]))
    assert torch.allclose(s[1], torch.zeros(3))  # negative cosines are floored at 0
    topk = mem.class_scores(q, "mean_topk", topk=2)
    assert topk[0, 1].item() == pytest.approx((0.6 + 0.96) / 2)


def test_memory_overwrites_slots_and_fifo_pseudo_region():
    mem = InstanceMemory(n_labeled=2, dim=2, num_classes=2, pseudo_slots=2)
    mem.write_labeled(torch.tensor([1]), torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    mem.write_labeled(torch.tensor([1]), torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert mem.filled.tolist() == [False, True, False, False] and mem.labels[1] == 0
    mem.write_pseudo(torch.eye(2)[[0, 1, 0]], torch.tensor([0, 1, 0]))  # 3 items into 2 slots
    # only the last 2 fit; the labeled slot 0 was never seen and stays empty
    assert mem.filled.tolist() == [False, True, True, True]
    assert mem.labels[2:].tolist() == [1, 0] and int(mem.cursor) == 0
    mem.write_pseudo(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))  # FIFO: overwrites slot 2
    assert mem.labels[2:].tolist() == [1, 0] and int(mem.cursor) == 1


@pytest.mark.parametrize("gating,k", [("topk", 1), ("topk", 2), ("dense", 1)])
def test_moe_shapes_gates_and_gradients(gating, k):
    torch.manual_seed(0)
    moe = MixtureOfExperts(16, 12, num_experts=4, k=k, gating=gating)
    moe.w_gate.data.normal_()  # break the zero init so gates differ per input
    x = torch.randn(10, 16, requires_grad=True)
    r = moe(x)
    assert r["out"].shape == (10, 12) and r["agnostic"].shape == (10, 12) and r["gates"].shape == (10, 4)
    assert torch.allclose(r["gates"].sum(1), torch.ones(10), atol=1e-5)
    nonzero = (r["gates"] > 0).sum(1)
    assert (nonzero == (k if gating == "topk" else 4)).all()
    (r["out"].sum() + r["balance"]).backward()
    assert x.grad.abs().sum() > 0 and moe.experts.weight.grad.abs().sum() > 0
    assert moe.w_gate.grad is not None and moe.w_gate.grad.abs().sum() > 0


def test_top1_output_is_the_selected_expert():
    torch.manual_seed(1)
    moe = MixtureOfExperts(6, 5, num_experts=3, k=1).eval()
    moe.w_gate.data.normal_()
    x = torch.randn(4, 6)
    r = moe(x)
    e = r["gates"].argmax(1)
    expected = torch.stack([x[i] @ moe.experts.weight[e[i]] + moe.experts.bias[e[i]] for i in range(4)])
    assert torch.allclose(r["out"], expected, atol=1e-5)


def test_residual_experts_are_independent_res_mlps():
    """``residual``: the release's expert shape, one per slot; top-1 returns the selected one."""
    torch.manual_seed(2)
    moe = MixtureOfExperts(6, 6, num_experts=3, k=1, experts="residual").eval()
    moe.w_gate.data.normal_()
    x = torch.randn(5, 6)
    r = moe(x)
    e = r["gates"].argmax(1)
    ex = moe.experts

    def expert(i, v):
        return v + torch.relu(v @ ex.weight[i] + ex.bias[i]) @ ex.weight2[i] + ex.bias2[i]
    expected = torch.stack([expert(e[i], x[i]) for i in range(5)])
    assert torch.allclose(r["out"], expected, atol=1e-5)
    assert ex.weight.shape == (3, 6, 3) and ex.weight2.shape == (3, 3, 6)
    assert not torch.allclose(expert(0, x), expert(1, x))  # not tied


def test_tied_expert_is_one_module_in_every_slot():
    moe = MixtureOfExperts(8, 8, num_experts=4, experts="tied_residual")
    assert all(m is moe.expert for m in moe.experts)
    assert sum(p.numel() for p in moe.parameters()) == 8 * 4 + 4 + 4 * 8 + 8 + 2 * 8 * 4  # one MLP + two gates
    with pytest.raises(ValueError, match="d_in == d_out"):
        MixtureOfExperts(8, 6, experts="tied_residual")


def test_map_variant_gates_every_location():
    moe = MapMixtureOfExperts(8, num_experts=4, k=1).eval()
    r = moe(torch.randn(2, 8, 3, 3))
    assert r["out"].shape == (2, 8, 3, 3) and r["gates"].shape == (2, 3, 3, 4)


def test_bad_gating_config():
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfExperts(4, 4, num_experts=2, k=3)
    with pytest.raises(ValueError, match="gating"):
        MixtureOfExperts(4, 4, gating="soft")


@pytest.mark.parametrize("gating,k", [("topk", 1), ("dense", 1)])
def test_agnostic_component_is_the_complement_mixture(gating, k):
    """top-1: the mean of the experts the gate did not select; dense: experts weighted by 1 - g
    (never the empty, constant mean of 'unselected' experts)."""
    torch.manual_seed(0)
    moe = MixtureOfExperts(16, 12, num_experts=4, k=k, gating=gating, noisy=False).eval()
    moe.w_gate.data.normal_()
    x = torch.randn(10, 16)
    r = moe(x)
    outs = torch.einsum("ni,eio->neo", x, moe.experts.weight) + moe.experts.bias
    g = r["gates"]
    if gating == "topk":
        unused = (g == 0).float()
        want = (outs * unused.unsqueeze(-1)).sum(1) / unused.sum(1, keepdim=True)
    else:
        w = (1 - g) / (1 - g).sum(1, keepdim=True)
        want = (outs * w.unsqueeze(-1)).sum(1)
    assert torch.allclose(r["agnostic"], want, atol=1e-5)
    assert r["agnostic"].std(0).mean() > 1e-3  # it varies with the input


def test_diverged_gate_logits_reach_the_loss_as_nan_not_a_support_error():
    """A run whose gate weights became NaN must end at the trainer's "loss became nan ... lower the
    lr" (a finite check on the loss), not inside the noisy gate's Normal CDF."""
    torch.manual_seed(0)
    moe = MixtureOfExperts(6, 5, num_experts=4, k=1).train()
    moe.w_gate.data.fill_(float("nan"))
    r = moe(torch.randn(3, 6))
    assert not torch.isfinite(r["balance"])  # what the LEAF loss adds: the trainer's check sees it


def test_tied_mixture_floors_an_underflowed_output_at_the_releases_log_eps():
    """The release's combine replaces an exact 0 by float64's eps before its log: an expert output
    under about -104 (exp underflows in float32) comes out as log(eps) = -36.04, not -inf; outputs
    that do not underflow pass unchanged."""
    import math

    moe = MixtureOfExperts(4, 4, num_experts=3, k=1, experts="tied_residual").eval()
    x = torch.zeros(2, 4)
    moe.expert.forward = lambda h: torch.tensor([[-200.0, -50.0, 0.0, 3.0]]).expand(len(h), 4)
    out = moe(x)["out"]
    assert torch.isfinite(out).all()
    assert out[0, 0].item() == pytest.approx(math.log(2.220446049250313e-16), abs=1e-5)
    assert out[0, 1:].tolist() == pytest.approx([-50.0, 0.0, 3.0], abs=1e-5)
