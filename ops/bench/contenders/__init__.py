"""The contenders of the side-by-side benchmark, one module each, sharing a workload and the
measurement of their processes."""
