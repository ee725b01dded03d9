"""Saving and loading any vaelab model without the code that built it: ``model.save(folder)``, ``load_model(folder)``.

Every vaelab model and part (``VAE`` and its subclasses, the priors, ``TwoStageVAE``, ``MLP``, the likelihoods)
derives from :class:`Rebuildable`, which records the arguments it was built with.  ``save`` writes them as JSON
beside the weights:

    folder/model.json   {"format", "vaelab_version", "model": {"class": "vaelab.hebae.HEBAE", "args": [...],
                         "kwargs": {...}}}; a part given as an argument (a prior, a custom encoder, the two stages
                         of a TwoStageVAE) is described the same way, inside
    folder/model.pt     the state dict (parameters and buffers: HEBAE's running covariance, a learned γ, ...),
                         written with torch.save and read with ``weights_only=True``, so no code runs from it

A tensor argument (a VampPrior's ``init``) is recorded by its shape only: its values are in the state dict.  Only
classes of modules already imported are rebuilt: vaelab's own, or a custom ``encoder=``/``decoder=`` module whose
module the caller imported first (reading a file never imports code).  A custom module is rebuilt with the arguments
it recorded if it derives from :class:`Rebuildable`, else from its ``config`` dict attribute, else with no
arguments; otherwise the error says to build the model and load the weights into it.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from pathlib import Path

import torch
from torch import nn

from ._version import __version__
from .checks import path as _path

__all__ = ["Rebuildable", "save_model", "load_model", "describe", "rebuild", "MODEL_FORMAT"]

MODEL_FORMAT = "vaelab-model/1"


class Rebuildable:
    """Mixin for an ``nn.Module`` whose constructor arguments are recorded in ``init_call`` (args, kwargs), so that
    :func:`rebuild` can make it again.  A subclass that calls ``super().__init__(...)`` records its own arguments:
    the outermost constructor finishes last and wins."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            init(self, *args, **kw)
            object.__setattr__(self, "init_call", (args, kw))

        cls.__init__ = recording_init


# ------------------------------------------------------------------------------------------------------- describing
def _class_path(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode(value, where: str):
    """A JSON-able description of a constructor argument."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return {"__tensor__": {"shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}}
    if isinstance(value, nn.Module):
        return {"__module__": describe(value, where)}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    raise TypeError(f"{where} is a {type(value).__name__}, which a saved model cannot record; pass a number, a "
                    "string, a list, a tensor or an nn.Module.")


def describe(module: nn.Module, where: str = "model") -> dict:
    """The class and constructor arguments of ``module``, as JSON-able data (see the module's notes)."""
    out = {"class": _class_path(module)}
    call = getattr(module, "init_call", None)
    if call is not None:
        args, kwargs = call
        out["args"] = _encode(list(args), f"{where} argument")
        out["kwargs"] = {k: _encode(v, f"{where} argument {k}") for k, v in kwargs.items()}
    elif isinstance(getattr(module, "config", None), dict):
        out["kwargs"] = _encode(module.config, f"{where}.config")
    return out


# ------------------------------------------------------------------------------------------------------- rebuilding
def _resolve(class_path: str, where: str):
    module_name, _, name = class_path.rpartition(".")
    candidates = [(module_name, name)]
    while "." in module_name:  # a nested class: Outer.Inner
        module_name, _, outer = module_name.rpartition(".")
        candidates.append((module_name, f"{outer}.{candidates[-1][1]}"))
    for mod_name, qualname in candidates:
        if mod_name == "vaelab" or mod_name.startswith("vaelab."):
            importlib.import_module(mod_name)  # vaelab's own modules only
        mod = sys.modules.get(mod_name)
        if mod is None:
            continue
        obj = mod
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type):
            return obj
    raise ValueError(
        f"The saved model's {where} is a {class_path}, which is not imported here (vaelab never imports code named "
        f"in a file). Import {class_path.rpartition('.')[0]} first, or build the model yourself and load the weights "
        "with model.load_state_dict(torch.load(folder / 'model.pt', weights_only=True))."
    )


def _decode(value, where: str):
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            spec = value["__tensor__"]
            return torch.zeros(spec["shape"], dtype=getattr(torch, spec["dtype"]))
        if "__module__" in value:
            return rebuild(value["__module__"], where)
        if "__dtype__" in value:
            return getattr(torch, value["__dtype__"])
        return {k: _decode(v, f"{where}.{k}") for k, v in value.items()}
    return value


def rebuild(description: dict, where: str = "model") -> nn.Module:
    """An untrained module from :func:`describe`'s description (its weights come from the state dict)."""
    cls = _resolve(description["class"], where)
    args = _decode(description.get("args", []), where)
    kwargs = _decode(description.get("kwargs", {}), where)
    try:
        return cls(*args, **kwargs)
    except TypeError as err:
        raise ValueError(
            f"Could not rebuild the saved {where} ({description['class']}) from its recorded arguments: {err}. Build "
            "the model yourself and load its weights with model.load_state_dict(...)."
        ) from err


# ------------------------------------------------------------------------------------------------------ the folder
def save_model(model: nn.Module, folder) -> Path:
    """Write ``model`` to ``folder``: ``model.json`` (what to build) and ``model.pt`` (its weights), each atomically.
    Returns the folder."""
    from .checkpoints import atomic_save, atomic_write_text  # checkpoints imports this module's neighbours

    folder = _path(folder, "folder (where to save the model)")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: save the model into a folder.")
    description = {"format": MODEL_FORMAT, "vaelab_version": __version__, "model": describe(model)}
    atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / "model.pt")
    atomic_write_text(folder / "model.json", json.dumps(description, indent=1) + "\n")
    return folder


def load_model(folder, map_location="cpu") -> nn.Module:
    """The model saved in ``folder`` by ``model.save(folder)``, rebuilt and with its weights, in evaluation mode."""
    from .checkpoints import verify_integrity

    folder = _path(folder, "folder (a saved model's folder)")
    config, weights = folder / "model.json", folder / "model.pt"
    if not config.is_file() or not weights.is_file():
        raise FileNotFoundError(
            f"{folder} is not a saved vaelab model: it needs model.json and model.pt, written by model.save(folder)."
        )
    try:
        description = json.loads(config.read_text())
        if description.get("format") != MODEL_FORMAT:
            raise ValueError(f"its format is {description.get('format')!r}, not {MODEL_FORMAT!r}")
        model_description = description["model"]
    except (ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{config} is not a readable saved-model description ({err}).") from err
    model = rebuild(model_description)
    verify_integrity(weights)
    state = torch.load(weights, map_location=map_location, weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"The weights in {weights} do not fit the rebuilt model: missing {missing[:4]}, unexpected "
                         f"{unexpected[:4]}.")
    return model.to(map_location).eval()
