"""Bit-exact IEEE-style floating-point arithmetic (BF16 / FP32) as pipelined stream components."""
