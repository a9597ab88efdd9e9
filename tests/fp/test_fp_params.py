# amaranth: UnusedElaboratable=no
"""Parameter validation of the floating-point operators: a bad configuration raises ValueError
at construction, naming the parameter and what is allowed."""

import pytest

from hw.fp import (BF16, FP32, FloatFormat, FPAdd, FPCompare, FPConvert, FPFMA, FPMul,
                   FloatToInt, IntToFloat)

FLOAT_OPS = [FPAdd, FPMul, FPCompare]
ALL_CTORS = [
    lambda **kw: FPAdd(**kw), lambda **kw: FPMul(**kw), lambda **kw: FPCompare(**kw),
    lambda **kw: FPFMA(**kw), lambda **kw: FPConvert(FP32, BF16, **kw),
    lambda **kw: IntToFloat(**kw), lambda **kw: FloatToInt(**kw),
]


@pytest.mark.parametrize("ctor", ALL_CTORS)
@pytest.mark.parametrize("latency", [-1, -5, 17])
def test_latency_out_of_range(ctor, latency):
    with pytest.raises(ValueError, match=rf"latency must be an integer in \[0, 16\], got {latency}"):
        ctor(latency=latency)


@pytest.mark.parametrize("ctor", ALL_CTORS)
@pytest.mark.parametrize("latency", [1.5, "2", None, True])
def test_latency_not_int(ctor, latency):
    with pytest.raises(ValueError, match=r"latency must be an integer"):
        ctor(latency=latency)


@pytest.mark.parametrize("cls", FLOAT_OPS)
@pytest.mark.parametrize("fmt", ["fp16", "BF16", "", None, 16,
                                 FloatFormat("fp16", exp_bits=5, frac_bits=10)])
def test_unknown_format(cls, fmt):
    with pytest.raises(ValueError, match=r"fmt must be one of 'bf16', 'fp32', got"):
        cls(fmt)


@pytest.mark.parametrize("cls", FLOAT_OPS)
def test_format_by_name_or_object(cls):
    assert cls("fp32").fmt is FP32
    assert cls(BF16).fmt is BF16


def test_fma_formats():
    assert FPFMA("bf16").acc_fmt is BF16
    assert FPFMA().acc_fmt is FP32 and FPFMA().mul_fmt is BF16
    with pytest.raises(ValueError, match=r"acc_fmt must be one of 'bf16', 'fp32', got 'fp16'"):
        FPFMA("fp16")
    with pytest.raises(ValueError, match=r"mul_fmt must be one of 'bf16', 'fp32', got 'fp8'"):
        FPFMA(FP32, mul_fmt="fp8")
    with pytest.raises(ValueError, match="b_fmt must have mul_fmt's exponent field"):
        FPFMA(FP32, mul_fmt=BF16, b_fmt=FP32)
    assert FPFMA(FP32, mul_fmt=FP32, b_fmt="bf16").operand_layout["b"].shape == BF16.layout


def test_convert_formats():
    with pytest.raises(ValueError, match=r"src_fmt must be one of 'bf16', 'fp32', got 'fp16'"):
        FPConvert("fp16", BF16)
    with pytest.raises(ValueError, match=r"dst_fmt must be one of 'bf16', 'fp32', got 'fp64'"):
        FPConvert(BF16, "fp64")


@pytest.mark.parametrize("cls", [IntToFloat, FloatToInt])
@pytest.mark.parametrize("width", [0, 1, 17, -8, 32])
def test_width_out_of_range(cls, width):
    with pytest.raises(ValueError, match=rf"width must be an integer in \[2, 16\], got {width}"):
        cls(width)


@pytest.mark.parametrize("cls", [IntToFloat, FloatToInt])
@pytest.mark.parametrize("width", [8.0, "8", None])
def test_width_not_int(cls, width):
    with pytest.raises(ValueError, match=r"width must be an integer in \[2, 16\]"):
        cls(width)


@pytest.mark.parametrize("cls", [IntToFloat, FloatToInt])
def test_fixed_format(cls):
    with pytest.raises(ValueError, match=r"fmt must be one of 'bf16', 'fp32', got 'fp16'"):
        cls(8, "fp16")


@pytest.mark.parametrize("width,code_bits", [(2, 2), (3, 2), (4, 3), (7, 3), (8, 4), (15, 4),
                                             (16, 5)])
def test_fixed_layouts(width, code_bits):
    i2f, f2i = IntToFloat(width), FloatToInt(width)
    assert i2f.operand_layout["q"].width == width
    assert i2f.operand_layout["int_bits"].width == code_bits
    assert f2i.operand_layout["int_bits"].width == code_bits
    assert f2i.operand_layout["x"].shape == BF16.layout
    assert f2i.result_layout == width


def test_payload_layouts():
    """The public contract: field names and order (first = LSB)."""
    assert list(dict(FPAdd().operand_layout)) == ["a", "b", "sub"]
    assert list(dict(FPMul().operand_layout)) == ["a", "b"]
    assert list(dict(FPFMA().operand_layout)) == ["a", "b", "c", "neg_ab", "neg_c"]
    assert FPFMA().operand_layout["c"].shape == FP32.layout
    assert list(dict(FPCompare().result_layout)) == ["min", "max", "lt", "eq", "gt",
                                                     "unordered"]
    assert list(dict(IntToFloat().operand_layout)) == ["q", "int_bits", "signed"]
    assert list(dict(FloatToInt().operand_layout)) == ["x", "int_bits", "signed"]
    assert FPMul().result_layout == BF16.layout
