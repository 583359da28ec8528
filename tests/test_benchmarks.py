"""The benchmark scripts stay runnable: their measuring functions run on tiny models here (figures not checked)."""

import importlib.util
from pathlib import Path

import torch

from cvae.latent import prepare_for_inference
from cvae.models import ConditionalVAEConfig, build_model

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_explorer_benchmark_measures_both_backdrop_paths():
    bench = load_script("bench_explorer")
    torch.manual_seed(0)
    original = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16, label_every_layer=True))
    results = bench.bench_decodes(prepare_for_inference(original), repeats=5, original=original)
    assert set(results) == {"preview decode (1 image)", "backdrop decode (20×20, one call)",
                            "  same, label planes concatenated"}
    assert all(value > 0 for value in results.values())


def test_memory_benchmark_runs_a_short_session(tiny_checkpoints, qapp):
    bench = load_script("bench_memory")
    samples = bench.run(60, str(tiny_checkpoints["cvae"]), report_every=20)
    assert [moves for moves, _ in samples] == [0, 20, 40, 60] and all(mb > 0 for _, mb in samples)


def test_face_latency_benchmark_runs(tmp_path):
    from tests.test_explorer_generate_faces import face_checkpoint
    bench = load_script("bench_explorer")
    results = bench.bench_faces(2, str(face_checkpoint(tmp_path / "faces.pt")))
    assert set(results) == {"face toggle → 16-face grid", "face edit batch (16 encode + decode)"}
    assert all(value > 0 for value in results.values())


def test_gui_responsiveness_benchmark_measures_timer_delays(qapp):
    bench = load_script("bench_gui_responsiveness")
    delays = bench.timer_delays(qapp, 5)
    median, p95 = bench.summary(delays)
    assert len(delays) == 5 and 0 <= median <= p95
