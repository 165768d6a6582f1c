"""Single-image deraining learned from time-lapse data (Cho et al., IEEE TIP 2020)."""

__version__ = "0.1.0"
