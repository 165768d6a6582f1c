import pytest
import torch

from derain.losses import TimeLapseLoss, gamma_schedule

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
