import math

import pytest
import torch

from derain.losses import (
    DirectionalGradientNet,
    TimeLapseLoss,
    gamma_schedule,
    masked_l1,
    rain2avoid_loss,
    rain_invariant_loss,
    stochastic_fill,
)

ONLY = {"b": dict(lambda_b=1.0, lambda_s=0, lambda_v=0, lambda_r=0),
        "s": dict(lambda_b=0, lambda_s=1.0, lambda_v=0, lambda_r=0,
                  gamma_start=1.0, gamma_end=1.0),
        "r": dict(lambda_b=0, lambda_s=0, lambda_v=0, lambda_r=1.0),
        "v": dict(lambda_b=0, lambda_s=0, lambda_v=1.0, lambda_r=0)}


def frames(seed=0):
    g = torch.Generator().manual_seed(seed)
    background = torch.rand(2, 1, 12, 12, generator=g) * 0.6
    rain_m = (torch.rand(2, 1, 12, 12, generator=g) > 0.8).float() * 0.3
    rain_n = (torch.rand(2, 1, 12, 12, generator=g) > 0.8).float() * 0.3
    return background, background + rain_m, background + rain_n, rain_m, rain_n


def test_gamma_schedule_values():
    args = dict(start=0.1, end=1e-4, decay=0.3)
    assert gamma_schedule(0, 1000, **args) == pytest.approx(0.1)
    assert gamma_schedule(150, 1000, **args) == pytest.approx((0.1 + 1e-4) / 2)
    assert gamma_schedule(300, 1000, **args) == pytest.approx(1e-4)
    assert gamma_schedule(999, 1000, **args) == pytest.approx(1e-4)
    values = [gamma_schedule(s, 1000, **args) for s in range(0, 400, 10)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert gamma_schedule(5, 10, start=1.0, end=1.0, decay=0.3) == 1.0


def test_gamma_schedule_rejects_bad_input():
    with pytest.raises(ValueError):
        gamma_schedule(0, 0, 0.1, 1e-4, 0.3)
    with pytest.raises(ValueError):
        gamma_schedule(0, 10, 0.1, 1e-4, 1.5)


def test_lb_zero_exactly_when_backgrounds_agree():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    loss = TimeLapseLoss(**ONLY["b"])
    total, parts = loss(rainy_m, rainy_n, (bg, rain_m), (bg, rain_n), 0, 10)
    assert total.item() == 0.0 and parts["L_b"] == 0.0
    total, _ = loss(rainy_m, rainy_n, (rainy_m, rain_m), (rainy_n, rain_n), 0, 10)
    assert total.item() > 0


def test_ls_pairs_different_frames():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    cross = TimeLapseLoss(**ONLY["s"])
    same = TimeLapseLoss(**ONLY["s"], same_frame=True)
    # The identity (background = own input) is perfect for m = n but not for m != n:
    # this is why the paper insists on m != n.
    identity = ((rainy_m, rain_m), (rainy_n, rain_n))
    assert same(rainy_m, rainy_n, *identity, 0, 10)[0].item() == 0.0
    assert cross(rainy_m, rainy_n, *identity, 0, 10)[0].item() > 0.0
    # Backgrounds equal to the other frame make the cross term vanish.
    swapped = ((rainy_n, rain_m), (rainy_m, rain_n))
    assert cross(rainy_m, rainy_n, *swapped, 0, 10)[0].item() == 0.0


def test_ls_scaled_by_gamma():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    loss = TimeLapseLoss(lambda_b=0, lambda_s=1.0, lambda_v=0, lambda_r=0,
                         gamma_start=0.1, gamma_end=0.001, gamma_decay=0.5)
    outs = ((bg, rain_m), (bg, rain_n))
    early, parts = loss(rainy_m, rainy_n, *outs, 0, 100)
    late, _ = loss(rainy_m, rainy_n, *outs, 90, 100)
    assert parts["gamma"] == pytest.approx(0.1)
    assert early.item() == pytest.approx(100 * late.item(), rel=1e-5)


def test_lr_zero_without_clipping_positive_with_it():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    loss = TimeLapseLoss(**ONLY["r"])
    outs = ((rainy_m - rain_m, rain_m), (rainy_n - rain_n, rain_n))
    assert loss(rainy_m, rainy_n, *outs, 0, 10)[0].item() == pytest.approx(0, abs=1e-7)
    too_much = rain_m + 1.0
    clipped = (torch.clamp(rainy_m - too_much, 0, 1), too_much)
    assert loss(rainy_m, rainy_n, clipped, outs[1], 0, 10)[0].item() > 0.1


def test_lv_zero_for_no_rain_and_weighted_total():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    zero = torch.zeros_like(rain_m)
    loss_v = TimeLapseLoss(**ONLY["v"])
    assert loss_v(rainy_m, rainy_n, (bg, zero), (bg, zero), 0, 10)[0].item() == 0.0
    paper = TimeLapseLoss()
    outs = ((rainy_m, rain_m), (rainy_n, rain_n))
    total, parts = paper(rainy_m, rainy_n, *outs, 0, 10)
    expected = (parts["L_b"] + 0.1 * parts["gamma"] * parts["L_s"]
                + 0.01 * parts["L_v"] + 0.001 * parts["L_r"])
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_switched_off_terms_are_not_computed():
    bg, rainy_m, rainy_n, rain_m, rain_n = frames()
    loss = TimeLapseLoss(lambda_v=0, lambda_r=0)
    _, parts = loss(rainy_m, rainy_n, (bg, rain_m), (bg, rain_n), 0, 10)
    assert set(parts) == {"L_b", "L_s", "gamma", "total"}
    assert loss.directional is None


def test_bad_weights_refused():
    with pytest.raises(ValueError, match="lambda_b"):
        TimeLapseLoss(lambda_b=-1)
    with pytest.raises(ValueError, match="positive"):
        TimeLapseLoss(lambda_b=0, lambda_s=0, lambda_v=0, lambda_r=0)


# ------------------------------------------------ directional gradient network


def test_directional_gradients_finite_on_flat_image():
    dgn = DirectionalGradientNet(clusters=4)
    rain = torch.zeros(1, 1, 16, 16, requires_grad=True)
    loss = dgn(rain)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == 0.0
    assert torch.isfinite(rain.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in dgn.parameters())


def test_directional_gradients_finite_on_random_rain():
    torch.manual_seed(0)
    dgn = DirectionalGradientNet(clusters=4)
    rain = (torch.rand(2, 1, 16, 16) * 0.1).requires_grad_()
    loss = dgn(rain)
    loss.backward()
    assert loss.item() > 0
    assert torch.isfinite(rain.grad).all() and rain.grad.abs().sum() > 0


def test_orientation_of_vertical_streaks():
    dgn = DirectionalGradientNet()
    rain = torch.zeros(1, 1, 8, 8)
    rain[..., 3] = 1.0  # one vertical streak: gradients are horizontal
    theta, mask = dgn.orientation(rain)
    assert mask.sum() > 0
    assert torch.allclose(theta[mask.bool()], torch.zeros(int(mask.sum())))
    rain = torch.zeros(1, 1, 8, 8)
    rain[..., 3, :] = 1.0  # a horizontal streak: gradients are vertical
    theta, mask = dgn.orientation(rain)
    assert torch.allclose(theta[mask.bool()].abs(),
                          torch.full((int(mask.sum()),), math.pi / 2))


def test_lv_is_smaller_for_one_direction_than_for_many():
    torch.manual_seed(0)
    dgn = DirectionalGradientNet(clusters=2)
    x = torch.arange(16.0)
    one = (torch.sin(x)[None, :] * torch.ones(16, 1))[None, None] * 0.5
    many = torch.rand(1, 1, 16, 16)
    # With centres at the data's orientation the loss vanishes for one direction.
    with torch.no_grad():
        dgn.centres.fill_(0.0)
    assert dgn(one).item() < 1e-6 < dgn(many).item()


# ------------------------------------------------------- the neighbours' losses


def test_masked_l1_ignores_masked_pixels():
    rainy = torch.rand(2, 1, 8, 8)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 2:4, 3:6] = True
    pred = rainy.clone()
    pred[mask] += 0.7
    assert masked_l1(pred, rainy, mask) == 0
    pred[0, 0, 0, 0] += 0.5
    assert masked_l1(pred, rainy, mask) > 0
    assert masked_l1(pred, rainy, torch.ones_like(mask)) == 0


def test_stochastic_fill_draws_masked_pixels_from_unmasked_neighbours():
    rainy = torch.arange(100, dtype=torch.float32).view(1, 1, 10, 10) / 100
    mask = torch.zeros(1, 1, 10, 10, dtype=torch.bool)
    mask[0, 0, 4:6, 4:6] = True
    gen = torch.Generator().manual_seed(0)
    out = stochastic_fill(rainy, mask, window=3, generator=gen)
    assert torch.equal(out[~mask], rainy[~mask])
    for r, c in [(4, 4), (4, 5), (5, 4), (5, 5)]:
        window = rainy[0, 0, r - 1:r + 2, c - 1:c + 2]
        allowed = window[~mask[0, 0, r - 1:r + 2, c - 1:c + 2]]
        assert out[0, 0, r, c] in allowed
    everything = torch.ones_like(mask)
    assert torch.equal(stochastic_fill(rainy, everything), rainy)


def test_rain2avoid_loss_is_finite_with_parts():
    rainy = torch.rand(2, 1, 12, 12)
    mask = torch.rand(2, 1, 12, 12) > 0.8
    pred = rainy.clone().requires_grad_(True)
    total, parts = rain2avoid_loss(pred, rainy, mask)
    total.backward()
    assert torch.isfinite(total) and set(parts) == {"L_clear", "total"}
    assert parts["L_clear"] == 0  # pred equals the input off the mask
    assert torch.isfinite(pred.grad).all()


def test_rain_invariant_loss_prefers_matching_features():
    gen = torch.Generator().manual_seed(0)

    def feats():
        return [torch.randn(8, 16, 3, 3, generator=gen),
                torch.randn(8, 32, 2, 2, generator=gen)]

    rainy, other = feats(), feats()
    same = rain_invariant_loss(rainy, rainy)
    unrelated = rain_invariant_loss(rainy, other)
    assert same < 0.5 < math.log(15) - 0.5 < unrelated
    single = rain_invariant_loss([f[:1] for f in rainy], [f[:1] for f in other])
    assert single == 0  # no negatives in a batch of one
    leaves = [f.clone().requires_grad_(True) for f in rainy + other]
    rain_invariant_loss(leaves[:2], leaves[2:]).backward()
    assert all(torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
               for f in leaves)
