"""The harness's GRES topology: the slurm.conf and gres.conf it writes, the device nodes it names."""

from pathlib import Path

from harness import gres, launcher


def _settings(**kw: object) -> launcher.Settings:
    return launcher.Settings(release="22.05", slurmd_release="22.05", **kw)  # type: ignore[arg-type]


def test_expand_brackets() -> None:
    assert launcher.expand_brackets("/d/nvidia[0-1,3]") == ["/d/nvidia0", "/d/nvidia1", "/d/nvidia3"]
    assert launcher.expand_brackets("a[00-02]") == ["a00", "a01", "a02"]
    assert launcher.expand_brackets("/d/x0,/d/y[1-2]") == ["/d/x0", "/d/y1", "/d/y2"]


def test_two_gpu_types_conf(tmp_path: Path) -> None:
    topo = gres.two_gpu_types()
    s = _settings(**topo)
    layout = launcher.Layout(tmp_path)
    conf = launcher._render_conf(layout, s)
    assert "GresTypes=gpu\n" in conf
    assert "NodeName=compute-node-1 " in conf and "Gres=gpu:tesla:2" in conf
    assert "NodeName=compute-node-2 " in conf and "Gres=gpu:k80:2" in conf
    text = launcher.render_gres_conf(layout, s)
    assert (
        f"NodeName=compute-node-2 Name=gpu Type=k80 File={tmp_path}/dev/compute-node-2/nvidia1 Cores=2-3"
        in text
    )
    files = launcher.gres_device_files(layout, s)
    assert len(files) == 4 and files[0] == tmp_path / "dev" / "compute-node-1" / "nvidia0"


def test_gres_types_from_names() -> None:
    assert _settings(**gres.with_mps()).gres_type_names == "gpu,mps"
    assert _settings(**gres.with_no_consume()).gres_type_names == "gpu,bandwidth"


def test_no_gres_leaves_the_conf_alone(tmp_path: Path) -> None:
    conf = launcher._render_conf(launcher.Layout(tmp_path), _settings(nodes=2))
    assert "Gres" not in conf and "NodeName=compute-node-[1-2]" in conf


def test_fewer_reported() -> None:
    g = gres.fewer_reported(2)["gres"]
    assert isinstance(g, tuple)
    assert g[1].gres == "gpu:k80:2" and len(g[1].conf) == 1 and len(g[0].conf) == 2
