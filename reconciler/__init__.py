"""reconciler: GitOps for zero-trust access policy.

Top of the package: the version and nothing else, so importing it is cheap.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
