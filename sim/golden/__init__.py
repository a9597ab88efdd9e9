"""Golden models: bit-exact numpy models of the arithmetic (``fp``), an independent exact
big-integer reference (``exact``) and shared operand generators (``vectors``)."""
