"""benchmarks/average_weights.py (a uniform model soup; how a shipped default can be made from
fine-tunes of one network): every floating-point tensor, BatchNorm statistics included, is the
mean of the inputs', integer buffers are the first file's, the network rebuilds from the written
file alone, the record lists what went in, and files of another network are refused by name."""

from __future__ import annotations

import pytest
import torch

from conftest import benchmark_script


@pytest.fixture(scope="module")
def script():
    return benchmark_script("average_weights")


def make(seed: int, **options):
    from rgb2depth.models import create

    torch.manual_seed(seed)
    net = create("unet_realtime", load_pretrained=False, **options)
    with torch.no_grad():  # statistics a trained network would have, different per file
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(seed)
    return net


def test_soup_is_the_mean_of_the_files_and_says_what_went_in(script, tmp_path):
    from rgb2depth.models.io import load_model, save_model

    nets = [make(s) for s in (1, 2, 3)]
    infos = [{"config": "run_a", "steps": 100, "loss": "silog", "final_val": {"delta1": 0.5}},
             {"config": "run_b", "steps": 20, "loss": "silog", "precise_bn": {"batches": 4, "seed": 9}},
             {"config": "run_c", "steps": 30, "loss": "silog"}]
    files = []
    for i, (net, info) in enumerate(zip(nets, infos, strict=True)):
        files.append(str(tmp_path / f"m{i}.pt"))
        save_model(net, files[-1], info=info)
    out = tmp_path / "soup.pt"
    assert script.main([str(out), *files]) == 0

    soup = load_model(out)
    assert type(soup) is type(nets[0])
    got, ins = soup.state_dict(), [n.state_dict() for n in nets]
    for k, v in got.items():
        if v.is_floating_point():
            assert torch.allclose(v, (ins[0][k] + ins[1][k] + ins[2][k]) / 3, atol=1e-6), k
        else:
            assert torch.equal(v, ins[0][k]), k
    assert any("running_var" in k for k in got)  # the statistics were averaged too
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.isfinite(soup.eval()(x)).all()
    assert soup.rgb2depth_info == {
        "soup_of": [{"file": files[0], "config": "run_a", "steps": 100},
                    {"file": files[1], "config": "run_b", "steps": 20, "precise_bn": {"batches": 4, "seed": 9}},
                    {"file": files[2], "config": "run_c", "steps": 30}],
        "loss": "silog"}


def test_soup_refuses_files_of_another_network(script, tmp_path):
    from rgb2depth.models.io import save_model

    save_model(make(1), tmp_path / "a.pt")
    save_model(make(2, encoder=(8, 16, 32, 64)), tmp_path / "b.pt")
    with pytest.raises(SystemExit, match=r"b\.pt: not the network of .*a\.pt"):
        script.main([str(tmp_path / "soup.pt"), str(tmp_path / "a.pt"), str(tmp_path / "b.pt")])
    assert not (tmp_path / "soup.pt").exists()


def test_soup_of_a_soup_keeps_its_members_record(script, tmp_path):
    from rgb2depth.models.io import load_model, save_model

    save_model(make(1), tmp_path / "a.pt", info={"config": "run_a", "steps": 10})
    save_model(make(2), tmp_path / "b.pt", info={"config": "run_b", "steps": 20})
    save_model(make(3), tmp_path / "c.pt", info={"config": "run_c", "steps": 30})
    inner, outer = tmp_path / "ab.pt", tmp_path / "abc.pt"
    assert script.main([str(inner), str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]) == 0
    # (ab + ab + c) / 3 = (a + b + c) / 3: a two-member soup listed twice weighs as its members
    assert script.main([str(outer), str(inner), str(inner), str(tmp_path / "c.pt")]) == 0
    got = load_model(outer).rgb2depth_info["soup_of"]
    members = [{"file": str(tmp_path / "a.pt"), "config": "run_a", "steps": 10},
               {"file": str(tmp_path / "b.pt"), "config": "run_b", "steps": 20}]
    assert got == [{"file": str(inner), "soup_of": members}, {"file": str(inner), "soup_of": members},
                   {"file": str(tmp_path / "c.pt"), "config": "run_c", "steps": 30}]
    direct = tmp_path / "direct.pt"
    assert script.main([str(direct), str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), str(tmp_path / "c.pt")]) == 0
    a, b = load_model(outer).state_dict(), load_model(direct).state_dict()
    for k, v in a.items():
        if v.is_floating_point():
            assert torch.allclose(v, b[k], atol=1e-6), k
