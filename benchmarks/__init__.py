"""PartnerPulse benchmarks: `python -m benchmarks --scale small|medium|large`.

Every stage runs in a child process of its own (peak RSS from `os.wait4`), against
stand-in sources served by another child process, in temporary folders of its own. See
BENCHMARKS.md for the method.
"""
