"""sim.models.weight_faults: encoding and decoding per format (rounding, saturation, the
fixed-point ranges), bit flips at the requested rate and only there, and weight scaling
(a power-of-two scale is exact through a float format)."""

import numpy as np
import pytest

from sim.models.weight_faults import FORMATS, decode, encode, flip_bits, layer_scale, stored


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_and_saturation(fmt):
    w = np.array([0.0, 0.5, -0.25, 1.0 / 3.0, -3.0, 1e6, -1e6, 1e-3])
    got = decode(encode(w, fmt), fmt)
    assert np.all(np.isfinite(got))                  # saturated, never inf
    exact = {"fp32": 1e-7, "fp16": 1e-3, "bf16": 1e-2, "q2.5": 2 ** -6, "int8": 2 ** -8}[fmt]
    inside = np.abs(w) <= {"q2.5": 3.9, "int8": 0.99}.get(fmt, 6e4)
    assert np.all(np.abs(got[inside] - w[inside]) <= exact * np.maximum(1, np.abs(w[inside])))
    big = decode(encode(np.array([1e30, -1e30]), fmt), fmt)
    assert big[0] > 0 > big[1]
    if fmt in ("fp32", "fp16", "bf16"):
        assert big[0] == -big[1]                      # sign and magnitude


def test_fixed_point_ranges():
    assert list(decode(encode(np.array([-4.0, 127 / 32, 9.0, -9.0]), "q2.5"), "q2.5")) == \
        [-4.0, 127 / 32, 127 / 32, -4.0]
    assert list(decode(encode(np.array([-1.0, 0.5, 2.0]), "int8"), "int8")) == [-1.0, 0.5, 127 / 128]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_flip_rate_and_places(fmt):
    rng = np.random.default_rng(1)
    codes = encode(rng.normal(size=20_000), fmt)
    flipped, count = flip_bits(codes, fmt, 1e-3, rng)
    total = codes.size * FORMATS[fmt]
    assert abs(count - 1e-3 * total) < 5 * np.sqrt(1e-3 * total)
    diff = np.bitwise_xor(flipped, codes)
    assert sum(bin(int(x)).count("1") for x in diff[diff != 0]) == count
    assert np.array_equal(flip_bits(codes, fmt, 0.0, rng)[0], codes)


def test_scaling():
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.05, 1000)
    assert layer_scale(w, 2.0) * np.abs(w).max() == pytest.approx(2.0)
    c = layer_scale(w, 2.0, power_of_two=True)
    assert np.log2(c) == int(np.log2(c)) and 1.0 < c * np.abs(w).max() <= 2.0
    # a power-of-two scale through bf16 without flips: exactly the unscaled rounding
    plain, _ = stored(w, "bf16", 0.0, rng)
    scaled, _ = stored(w, "bf16", 0.0, rng, t=2.0, power_of_two=True)
    assert np.array_equal(plain, scaled)
    # scaling into Q2.5's range keeps small weights that it would round away
    assert np.abs(stored(w, "q2.5", 0.0, rng, t=3.5)[0] - w).max() < \
        np.abs(stored(w, "q2.5", 0.0, rng)[0] - w).max()


def test_t_grid_reaches_each_formats_range():
    from sim.models.weight_faults import largest, t_grid
    for fmt in FORMATS:
        grid = t_grid(fmt)
        assert grid[0] == 0.125 and list(grid) == sorted(set(grid))
        assert all(np.log2(t) == int(np.log2(t)) for t in grid)
    assert t_grid("bf16")[-1] == 2.0 ** 127 and t_grid("fp16")[-1] == 2.0 ** 15
    assert t_grid("q2.5")[-1] == 2.0 ** 12 and largest("q2.5") == 127 / 32
    assert largest("int8") == 127 / 128 and largest("bf16") == float.fromhex("0x1.fep127")
