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
_REGISTRY = {}

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

def register_converter(name:str, **kwargs):
    "Decorator registering a `read(prep)` function as the converter `name` (its docstring is the description)."
    def deco(read):
        _REGISTRY[name] = Converter(name, read, description=inspect.cleandoc(kwargs.pop('description', read.__doc__ or '')), **kwargs)
        return read
    return deco

def list_converters(describe:bool=False):
    "Names of the available converters (with `describe=True`: name -> one-line description)."
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_CONVERTERS and not m.name.startswith('_'))
    return {n: get_converter(n).title for n in names} if describe else names

def get_converter(name:str) -> Converter:
    "The registered converter `name` (its module is imported on first use)."
    if name not in _REGISTRY:
        if name not in list_converters():
            from fairkit.core import InputError
            raise InputError(f"unknown dataset converter {name!r}; available: {', '.join(list_converters())}")
        importlib.import_module(f'{__name__}.{name}')
    return _REGISTRY[name]

def main(name:str, argv:list|None=None):
    "Parse `argv` (default: the command line) and run converter `name`; returns the outputs (see `common.prepare`)."
    from .common import run_cli
    return run_cli(get_converter(name), argv)
