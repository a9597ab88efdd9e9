"""Real networks on the accelerator's numerics (docs/model_accuracy.md): :mod:`.minilm`."""
