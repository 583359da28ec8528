"""Tests of the trainer package (training loop, runs, jobs, evaluation, CLIs, torchrun, crash safety)."""
