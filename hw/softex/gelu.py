# amaranth: UnusedElaboratable=no
"""GELU for SoftEx: x * Phi(x) with Phi from a sum of K expp terms, as a pipelined stream operator.

``Gelu(lanes=1, *, terms=DEFAULT_TERMS, acc_width=14, latency=15, expp_mode="accurate")`` takes
``lanes`` BF16 numbers per beat (payload ``data.ArrayLayout(BF16.layout, lanes)``) and returns
GELU of each. The datapath is exactly ``sim/golden/gelu.py`` (the specification, step by step;
words and accuracy in ``docs/gelu.md``), built from the shared blocks' combinational datapaths:

per lane: 1 FPMul (x^2), K FPMulConst (NA_k * x^2: shift-adds, no multiplier), K expp, K
FPMulConst (B_k * e_k), K FloatToInt (Q0.W), a K-input W-bit saturating adder, a (W+1)-bit
subtract-from-2^W by sign, 1 IntToFloat (W+1 bits), 1 FPMul (x * phi); for the negative tail
(finite x <= ``TAIL_X``) 2 more FPMulConst (-u/2 into the first term's expp, ``TAIL_C`` * its
result) and two 16-bit multiplexers (that expp's input, the output).

Cut points (``N_CUTS`` = 15; ``latency`` registers spread over them, see hw/pipeline.py): each
of the six steps below ends with one, and the inner operators' own cut points are the
pipeline's too (:meth:`hw.pipeline.Pipeline.nested`; the values that pass beside them go
through the same stages): x^2 (FPMul: 2), the K argument products, expp (3), the K
coefficient products, the float-to-fixed converters (1) before the sum, the conversion back to
BF16 (1), the output product (2). The constant products (FPMulConst) stay combinational within
their step: registered inside, their normalisers no longer simplify (the product of a
constant has few possible leading-one positions), which cost 38 % more LUTs in the 2-lane unit
for 3 % more speed. The default latency puts a register on each cut point. Full throughput:
one beat per cycle, i.e. 1/lanes cycles per element.
"""

from amaranth import C, Cat, Mux, Signal, Value
from amaranth.lib import data

from ..fp import BF16, FloatToInt, FPMul, FPMulConst, IntToFloat
from ..params import Range, check_choice, check_int
from ..pipeline import PipelinedOp, combinational, datapath_only
from . import gelu_coeffs
from .expp import MODES as EXPP_MODES
from .expp import Expp

__all__ = ["Gelu", "ACC_WIDTH_MIN", "ACC_WIDTH_MAX", "TAIL_X", "TAIL_NA", "TAIL_C"]

ACC_WIDTH_MIN, ACC_WIDTH_MAX = 8, 15

#: Negative tail: finite x <= TAIL_X (-2.859375) give G = -bf16(TAIL_C * expp(TAIL_NA * u))
#: instead of x * phi: there Phi(x) < 2^-8, which the Q1.W sum holds to a few bits only (and
#: rounds to 0 from x ~ -3.97 at W = 14); see sim/golden/gelu.py. TAIL_NA = -0.5 makes the
#: expp argument exactly -u/2; TAIL_C = 0.384765625 (197/512, 4 canonical signed digits, a
#: shift-add product) = 0.964 / sqrt(2 pi) takes the factor 1 - 1/x^2 + 3/x^4 - ... of the
#: asymptotic series. The pair minimises the largest relative error over x in [-8, -2], both
#: expp modes (``python -m scripts.gelu_fit --tail``).
TAIL_X, TAIL_NA, TAIL_C = 0xC037, 0xBF00, 0x3EC5


def _comb(m, op, name, cuts=None, **fields):
    """Instantiate ``op``'s datapath on the given operand fields: its cut points on ``cuts`` (a
    :class:`hw.pipeline.NestedCuts` of the enclosing pipeline), or without registers."""
    ops = Signal(op.operand_layout, name=name)
    if fields.keys() == {"_value"}:
        m.d.comb += ops.eq(fields["_value"])
    else:
        for k, v in fields.items():
            m.d.comb += getattr(ops, k).eq(v)
    if cuts is None:
        value = Value.cast(combinational(m, op, ops))
    else:
        value = Value.cast(datapath_only(op).datapath(m, cuts.view(), ops))
    # A named signal, not the expression: every slice of an expression copies the whole
    # expression into the netlist (K x lanes slices of the expp output made the Verilog grow
    # with the square of the lanes).
    out = Signal(len(value), name=f"{name}_out")
    m.d.comb += out.eq(value)
    return out


class Gelu(PipelinedOp):
    """GELU on ``lanes`` BF16 lanes per beat.

    Parameters: ``lanes`` in [1, 64 // K] (its expp unit has ``lanes * K`` lanes); ``terms``
    K, one of the fitted K in ``hw/softex/gelu_coeffs.py`` (3..6); ``acc_width`` W in [8, 15]
    (fixed-point accumulator bits, Phi is Q1.W); ``latency`` >= 0; ``expp_mode`` "accurate" or "softex".
    """

    N_CUTS = 6 + 2 * FPMul.N_CUTS + Expp.N_CUTS + FloatToInt.N_CUTS + IntToFloat.N_CUTS
    LATENCY = Range(0, 2 * N_CUTS)

    def __init__(self, lanes=1, *, terms=None, acc_width=14, latency=N_CUTS,
                 expp_mode="accurate"):
        if terms is None:
            terms = gelu_coeffs.DEFAULT_TERMS
        self.terms = check_choice("terms", terms, tuple(sorted(gelu_coeffs.COEFFS)))
        self.lanes = check_int("lanes", lanes, min=1, max=Expp.MAX_LANES // self.terms)
        self.acc_width = check_int("acc_width", acc_width, min=ACC_WIDTH_MIN, max=ACC_WIDTH_MAX)
        self.expp_mode = check_choice("expp_mode", expp_mode, EXPP_MODES)
        self.na, self.b = gelu_coeffs.COEFFS[self.terms]
        layout = data.ArrayLayout(BF16.layout, self.lanes)
        super().__init__(layout, layout, latency=latency)

    def datapath(self, m, pipe, operands):
        # The inner operators but the constant products place their own cut points on this
        # pipeline (Pipeline.nested); the values that pass beside them are carried through.
        k, w, n = self.terms, self.acc_width, self.lanes
        mul = FPMul(BF16, latency=0)
        xs = [Value.cast(operands[i]) for i in range(n)]
        # 1. u = x * x
        cuts = pipe.nested(FPMul.N_CUTS)
        us = [_comb(m, mul, f"sq{i}", cuts, a=xs[i], b=xs[i]) for i in range(n)]
        xs = cuts.carry(*xs, name="x_beside_sq")
        cut = pipe.cut(*xs, *us, name="sq")
        xs, us = list(cut[:n]), list(cut[n:])
        # 2. y_k = NA_k * u; in the tail the first term's expp takes y_T = TAIL_NA * u instead
        na_mul = [FPMulConst(na, BF16, latency=0) for na in self.na]
        tail_mul = FPMulConst(TAIL_NA, BF16, latency=0)
        ys = [_comb(m, na_mul[j], f"arg{i}_{j}", _value=us[i]) for i in range(n) for j in range(k)]
        y_ts = [_comb(m, tail_mul, f"tail_arg{i}", _value=us[i]) for i in range(n)]
        for i in range(n):
            ys[i * k] = Mux(_in_tail(xs[i]), y_ts[i], ys[i * k])
        cut = pipe.cut(*xs, *ys, name="arg")
        xs, ys = list(cut[:n]), list(cut[n:])
        # 3. e_k = expp(y_k), all n*k at once
        ex = Expp(n * k, mode=self.expp_mode, latency=0)
        cuts = pipe.nested(Expp.N_CUTS)
        e_all = _comb(m, ex, "expp_in", cuts, _value=Cat(*ys))
        xs = cuts.carry(*xs, name="x_beside_expp")
        es = [e_all[16 * j:16 * (j + 1)] for j in range(n * k)]
        cut = pipe.cut(*xs, *es, name="expp")
        xs, es = list(cut[:n]), list(cut[n:])
        # 4. p_k = B_k * e_k; tail p_T = TAIL_C * (the first term's e = expp(y_T) in the tail)
        b_mul = [FPMulConst(b, BF16, latency=0) for b in self.b]
        c_mul = FPMulConst(TAIL_C, BF16, latency=0)
        ps = [_comb(m, b_mul[j], f"coef{i}_{j}", _value=es[i * k + j])
              for i in range(n) for j in range(k)]
        pts = [_comb(m, c_mul, f"tail_coef{i}", _value=es[i * k]) for i in range(n)]
        cut = pipe.cut(*xs, *pts, *ps, name="coef")
        xs, pts, ps = list(cut[:n]), list(cut[n:2 * n]), list(cut[2 * n:])
        # 5-7. Q0.W terms, saturating sum, Phi in Q1.W
        f2i = FloatToInt(w, BF16, latency=0)
        cuts = pipe.nested(FloatToInt.N_CUTS)
        qss = [[_comb(m, f2i, f"fix{i}_{j}", cuts, x=ps[i * k + j], int_bits=0, signed=0)
                for j in range(k)] for i in range(n)]
        xs = cuts.carry(*xs, name="x_beside_fix")
        pts = cuts.carry(*pts, name="pt_beside_fix")
        pfix = []
        for i in range(n):
            qs = qss[i]
            total = sum(qs[1:], qs[0])
            s = Signal(w, name=f"acc{i}")
            m.d.comb += s.eq(Mux(total >= (1 << w), (1 << w) - 1, total))
            p = Signal(w + 1, name=f"phi_fix{i}")
            m.d.comb += p.eq(Mux(xs[i][15], s, (1 << w) - s))
            pfix.append(p)
        cut = pipe.cut(*xs, *pts, *pfix, name="acc")
        xs, pts, pfix = list(cut[:n]), list(cut[n:2 * n]), list(cut[2 * n:])
        # 8. phi = bf16(P * 2^-W)
        i2f = IntToFloat(w + 1, BF16, latency=0)
        cuts = pipe.nested(IntToFloat.N_CUTS)
        phis = [_comb(m, i2f, f"phi{i}", cuts, q=pfix[i], int_bits=1, signed=0)
                for i in range(n)]
        xs = cuts.carry(*xs, name="x_beside_phi")
        pts = cuts.carry(*pts, name="pt_beside_phi")
        cut = pipe.cut(*xs, *pts, *phis, name="phi")
        xs, pts, phis = list(cut[:n]), list(cut[n:2 * n]), list(cut[2 * n:])
        # 9. G = x * phi; -inf -> -0; tail -> -p_T (the choices made beside the product)
        cuts = pipe.nested(FPMul.N_CUTS)
        products = [_comb(m, mul, f"out{i}", cuts, a=xs[i], b=phis[i]) for i in range(n)]
        minus_inf = cuts.carry(*(xs[i] == 0xFF80 for i in range(n)), name="minus_inf")
        tail = cuts.carry(*(_in_tail(xs[i]) for i in range(n)), name="tail")
        tail_values = cuts.carry(*(Cat(pts[i][:15], C(1, 1)) for i in range(n)), name="tail_out")
        gs = []
        for i in range(n):
            g = Mux(minus_inf[i], C(0x8000, 16), products[i])
            gs.append(Mux(tail[i], tail_values[i], g))
        return Cat(*gs)


def _in_tail(x):
    """x (BF16 bits) is finite and <= TAIL_X: the tail formula's inputs."""
    mag = x[:15]
    return x[15] & (mag >= (TAIL_X & 0x7FFF)) & (mag < 0x7F80)
