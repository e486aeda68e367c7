"""inril: interleaved imitation and reinforcement learning (IN-RIL, arXiv 2505.10442)."""

__version__ = "0.1.0"
