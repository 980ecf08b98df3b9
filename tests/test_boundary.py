"""The TensorFlow boundary is a folder boundary: only ganviz/gan/ imports TensorFlow or Keras.
Viewing, measuring, reporting, the CLI's parsing and a bundle upload run without them (a
viewing server stays at its small size)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_no_module_outside_the_engine_imports_tensorflow():
    names = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for p in (ROOT / "ganviz").rglob("*.py") if "gan" not in p.relative_to(ROOT / "ganviz").parts[:-1]
                   and p.stem != "__main__")
    assert {"ganviz.store.bundle", "ganviz.view.inference", "ganviz.measures.quality", "ganviz.measures.study",
            "ganviz.present.report", "ganviz.dashboard.jobs", "ganviz.cli", "ganviz.data"} <= set(names)
    out = _fresh(f"import importlib, sys\nfor m in {names!r}: importlib.import_module(m)\n"
                 "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert out == "[]"


def test_uploading_a_bundle_through_the_dashboard_needs_no_tensorflow(tmp_path):
    bundle = ROOT / "pretrained" / "doodles-camel-s0" / "upsample"
    out = _fresh("import sys\nfrom pathlib import Path\n"
                 "from ganviz.dashboard.runs import bundle_zip, import_bundle_zip\n"
                 "from ganviz.store.bundle import load_bundle\nfrom ganviz.view.inference import NumpyGenerator\n"
                 f"path = import_bundle_zip(bundle_zip(Path({str(bundle)!r})), Path({str(tmp_path)!r}))\n"
                 "NumpyGenerator.from_bundle(load_bundle(path))\n"
                 "print(path.name, 'tensorflow' in sys.modules)")
    assert out == "upsample False"
