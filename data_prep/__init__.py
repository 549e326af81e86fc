"""Converters from the raw downloads of real medical datasets to fairkit's standard metadata + image cache.

One module per dataset (`data_prep/<name>.py`), run as `python -m data_prep.<name> --raw DIR --out DIR` or
`fairkit prep <name> --raw DIR --out DIR`. Shared machinery lives in `data_prep/common.py`; fixture trees
that mimic each raw layout in `data_prep/fixtures.py`.
"""
from __future__ import annotations
import importlib, inspect, pkgutil
from dataclasses import dataclass, field
from typing import Callable

__all__ = ['Converter', 'register_converter', 'list_converters', 'get_converter', 'main']
_NOT_CONVERTERS = {'common', 'fixtures'}

@dataclass
class Converter:
    "A dataset converter: `read(prep)` turns the raw files into the metadata table; the rest is shared."
    name:str
    read:Callable # (common.Prep) -> DataFrame with sample_id, path, patient_id, label, attributes, ...
    description:str = ''
    official:str|None = None # None; 'split': the distributor gives train/val/test; 'train_test': val is carved from train
    channels:int = 3 # default --channels for the cache
    options:dict = field(default_factory=dict) # extra argparse flags {'--flag': add_argument kwargs}
    loader:Callable|None = None # (path, size, channels) -> uint8 image, for files PIL cannot open
    exists:Callable|None = None # (raw_root, paths) -> bool array, where "image present" is not "file exists"

    @property
    def title(self) -> str: return self.description.strip().split('\n')[0]

def _registry():
    from fairkit.core import Registry
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_CONVERTERS and not m.name.startswith('_'))
    return Registry('dataset converter', modules=[f'{__name__}.{n}' for n in names])

def register_converter(name:str, **kwargs):
    "Decorator registering a `read(prep)` function as the converter `name` (its docstring is the description)."
    def deco(read):
        _registry().add(name, Converter(name, read, description=inspect.cleandoc(kwargs.pop('description', read.__doc__ or '')), **kwargs))
        return read
    return deco

def list_converters(describe:bool=False):
    "Names of the available converters (with `describe=True`: name -> one-line description)."
    reg = _registry()
    names = sorted(m.rsplit('.', 1)[1] for m in reg.modules) # one module per converter: listing imports none of them
    return {n: get_converter(n).title for n in names} if describe else names

def get_converter(name:str) -> Converter:
    "The registered converter `name` (its module is imported on first use)."
    if name in list_converters(): importlib.import_module(f'{__name__}.{name}')
    return _registry().get(name)

def main(name:str, argv:list|None=None):
    "Parse `argv` (default: the command line) and run converter `name`; returns the outputs (see `common.prepare`)."
    from .common import run_cli
    return run_cli(get_converter(name), argv)
