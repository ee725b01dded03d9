"""The README's "Add a model" example runs as printed: the new model trains through fit with its penalty recorded by
name, and a Spec of the registered kind builds it (options checked)."""

import re
from pathlib import Path

import pytest
import torch
from helpers import small_data

import vaelab as vl

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def example():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- README example: tests/test_readme.py runs this block -->\n```python\n(.*?)```", text,
                      re.S)
    assert block, "the README's example block (with its marker comment) is missing"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    yield namespace
    vl.experiments.KINDS.pop("free-bits", None)


def test_the_example_model_trains_and_records_its_penalty(example):
    torch.manual_seed(0)
    model = example["FreeBitsVAE"](x_dim=30, z_dim=3, hidden=[16], floor=0.5)
    history = vl.fit(model, small_data(), epochs=3, batch_size=50, progress=False)
    assert len(history.penalties["free_bits"]) == 3
    assert all(v >= 0 for v in history.penalties["free_bits"])
    assert model.config["floor"] == 0.5


def test_the_example_kl_is_the_closed_form_and_the_floor_only_adds(example):
    torch.manual_seed(0)
    model = example["FreeBitsVAE"](x_dim=30, z_dim=3, hidden=[16], floor=0.0)
    x = small_data()[:50]
    loss = model.loss(x)
    mu, logvar = model.encode(x)
    assert torch.allclose(loss.kl, vl.gaussians.gaussian_kl(mu, logvar).mean(), atol=1e-5)
    assert loss.penalties["free_bits"].item() == 0.0  # a floor of 0 charges exactly the KL


def test_the_registered_kind_builds_and_refuses_unknown_options(example):
    spec = vl.experiments.Spec("free bits", "free-bits", z_dim=3, hidden=[16], options={"floor": 0.5})
    model = vl.experiments.build(spec, x_dim=30)
    assert isinstance(model, example["FreeBitsVAE"]) and model.floor == 0.5
    with pytest.raises(ValueError, match="no option"):
        vl.experiments.build(vl.experiments.Spec("x", "free-bits", options={"flor": 0.5}), x_dim=30)


def test_the_readme_renders_on_a_package_index():
    """An index shows the README without the repository: every link and image is absolute, built from the
    repository that _config.yml names."""
    text = (ROOT / "README.md").read_text()
    repository = re.search(r"^repository:\n  url: (\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    owner_name = repository.removeprefix("https://github.com/")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets, "no links found: the pattern is wrong"
    for target in targets:
        assert target.startswith(("https://", "http://", "#")), f"relative link in the README: {target}"
        if "github" in target:
            assert owner_name in target, f"{target} is not under the repository {repository}"
