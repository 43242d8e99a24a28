"""Constants shared by more than one package."""

IGNORE_LABEL = -100
"""Label of a position that the loss ignores (PyTorch's ``cross_entropy`` default ``ignore_index``)."""
