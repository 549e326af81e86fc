"""Shared machinery of the converters: checked readers (`Prep`), image lookup, splitting, outputs, the CLI.

A converter module only knows its raw layout: it defines `read(prep) -> DataFrame` with the columns
`sample_id, path, patient_id, label` (+ `split_official`, `label_<task>`, canonical attributes `sex`, `age`,
`race`, `fitzpatrick`, ..., `*_raw` audit columns, extras) and registers it with `register_converter`.
`prepare` does the rest: missing-image check, patient-level split, validation, `metadata.csv`,
`summary.csv`, `prep_report.json`, balanced test files and the image cache.
"""
from __future__ import annotations
import argparse, importlib, io, os, re, sys, warnings
from pathlib import Path, PurePosixPath
import numpy as np, pandas as pd
import fairkit
from fairkit.core import InputError, save_json, save_table, hash_file
from fairkit.data.meta import REQUIRED_COLUMNS, SPLITS, validate_metadata, get_attribute, patient_split, split_summary, balanced_subsample, _fmt_values
from fairkit.data.cache import build_image_cache, load_image
from fairkit.data.prepared import dataset_attributes, default_attribute

CANONICAL = ('sex', 'age', 'race', 'ethnicity', 'fitzpatrick', 'language', 'insurance', 'marital_status', 'nationality')

def require(module:str, why:str):
    "Import an optional package, or fail telling the user what to install."
    try: return importlib.import_module(module)
    except ImportError: raise InputError(f"{why} needs the Python package {module!r}: pip install {module}") from None

# ---------------------------------------------------------------------------------------------------
class Prep:
    "What a converter's `read` gets: the raw folder, the options, and readers/checkers that log to the report."
    def __init__(self, raw, args=None, name:str=''):
        self.raw, self.args, self.name = Path(raw).expanduser().resolve(), args, name
        if not self.raw.is_dir(): raise InputError(f"{name}: --raw {self.raw}: folder not found")
        self.files, self.steps, self.notes, self._index = {}, [], {}, None

    def find(self, *names, what:str='file') -> Path:
        "The first of `names` (relative to the raw folder, or absolute) that exists."
        for n in names:
            if (self.raw/n).exists(): return self.raw/n
        raise InputError(f"{self.name}: {what} not found under {self.raw}: looked for {', '.join(map(repr, map(str, names)))}")

    def _record(self, path:Path, rows:int):
        rel = path.relative_to(self.raw).as_posix() if path.is_relative_to(self.raw) else str(path)
        self.files[rel] = dict(sha256=hash_file(path), rows=rows)

    def read(self, *names, columns=(), what:str='metadata table', sheet:str|None=None, header:int=0) -> pd.DataFrame:
        "Read the first existing of `names` (CSV, CSV.gz, TSV/.tab, XLSX) as strings; check `columns` (a tuple = alternatives, renamed to the first)."
        path = self.find(*names, what=what)
        df = self._read_any(path, sheet, header)
        missing, renames = [], {}
        for c in columns:
            alts = (c,) if isinstance(c, str) else tuple(c)
            hit = next((a for a in alts if a in df.columns), None)
            if hit is None: missing.append(' or '.join(map(repr, alts)))
            elif hit != alts[0]: renames[hit] = alts[0]
        if missing: raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {list(df.columns)}")
        if renames: self.notes[f'{path.name}: renamed columns'] = renames
        df = df.rename(columns=renames)
        self._record(path, len(df))
        df.attrs['source'] = str(path)
        return df

    def _read_any(self, path:Path, sheet, header) -> pd.DataFrame:
        try:
            if path.suffix in ('.xlsx', '.xls'):
                require('openpyxl', f'reading {path.name}')
                sheets = pd.ExcelFile(path).sheet_names
                if sheet is not None and sheet not in sheets:
                    if len(sheets) != 1: raise InputError(f"{path}: sheet {sheet!r} not found; the workbook has {sheets}")
                    self.notes[f'{path.name}: sheet'] = f'expected {sheet!r}, read the only sheet {sheets[0]!r}'
                    sheet = sheets[0]
                return pd.read_excel(path, sheet_name=sheet or 0, header=header, dtype=str)
            sep = '\t' if re.search(r'\.(tab|tsv)(\.gz)?$', path.name) else ',' if re.search(r'\.csv(\.gz)?$', path.name) else None
            return pd.read_csv(path, sep=sep, header=header, dtype=str, index_col=False, engine=None if sep else 'python')
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as e:
            if isinstance(e, InputError): raise
            raise InputError(f"{path}: cannot be read as a table ({type(e).__name__}: {e})") from None

    def lines(self, *names, what:str='list file') -> list:
        "Non-empty stripped lines of a text file (e.g. NIH `test_list.txt`)."
        path = self.find(*names, what=what)
        out = [l.strip() for l in path.read_text().splitlines() if l.strip()]
        self._record(path, len(out))
        return out

    def canon(self, s:pd.Series, mapping:dict, missing=(), lower:bool=False) -> pd.Series:
        "Map raw values by an explicit dict; NaN and `missing` values become empty; any other value is an error naming file, column and values."
        numeric = all(isinstance(k, (int, float)) for k in mapping)
        def key(v):
            if pd.isna(v) or str(v).strip() == '': return None
            if numeric:
                try: return float(v)
                except ValueError: return v
            return str(v).strip().lower() if lower else str(v).strip()
        keys = s.map(key).astype(object)
        empty = keys.isna() | keys.isin(list(missing))
        out = keys.map(lambda k: mapping.get(k)).astype(object)
        bad = s[out.isna() & ~empty]
        if len(bad):
            raise InputError(f"{s.attrs.get('source', self.name)}: column {s.name!r} has unexpected value(s) {_fmt_values(bad)}; "
                             f"expected one of {list(mapping)}" + (f" (or {list(missing)}/empty)" if missing else " (or empty)"))
        if empty.any(): self.notes[f'{s.name}: empty'] = f"{int(empty.sum())} row(s) empty or in {list(missing)} -> empty value"
        return out.where(~empty, None)

    def attr(self, name:str, s:pd.Series, mapping:dict, missing=(), lower:bool=False) -> dict:
        "Canonical attribute column `name` (explicit mapping, see `canon`) and its untouched raw values `<name>_raw`."
        return {name: self.canon(s, mapping, missing, lower), f'{name}_raw': s}

    def number(self, s:pd.Series) -> pd.Series:
        "Numeric values (float); a non-numeric, non-empty value is an error naming file and column."
        num = pd.to_numeric(s, errors='coerce')
        bad = s[num.isna() & s.notna() & (s.astype(str).str.strip() != '')]
        if len(bad): raise InputError(f"{s.attrs.get('source', self.name)}: column {s.name!r} has non-numeric value(s) {_fmt_values(bad)}; expected numbers")
        return num.astype(float)

    def extract(self, s:pd.Series, pattern:str) -> pd.DataFrame:
        "Regex groups of every value of `s`; values that do not match are an error naming file, column and examples."
        m = s.astype(str).str.extract(pattern)
        bad = s[m.isna().any(axis=1)]
        if len(bad): raise InputError(f"{s.attrs.get('source', self.name)}: column {s.name!r} has value(s) not of the expected form {pattern!r}, e.g. {list(bad[:3])}")
        return m

    def fail(self, obj, msg:str):
        "Raise an `InputError` prefixed with the file `obj` (a table read by `read`) came from."
        raise InputError(f"{obj.attrs.get('source', self.name)}: {msg}")

    def unique(self, df:pd.DataFrame, col:str) -> pd.DataFrame:
        "`df` unchanged if `col` has no duplicates, else an error naming file, column and values."
        dup = df[col][df[col].duplicated()]
        if len(dup): raise InputError(f"{df.attrs.get('source', self.name)}: column {col!r} must be unique; duplicated: {_fmt_values(dup)}")
        return df

    def keep(self, df:pd.DataFrame, mask, reason:str) -> pd.DataFrame:
        "Rows where `mask` holds; the count dropped and the reason go to the report."
        mask = np.asarray(mask, dtype=bool)
        self.steps.append(dict(before=len(df), after=int(mask.sum()), reason=f"dropped {int((~mask).sum())} row(s): {reason}"))
        return df[mask]

    def walk(self) -> dict:
        "file name -> sorted relative POSIX paths of every file under the raw folder (built once)."
        if self._index is None:
            idx = {}
            for d, _, files in os.walk(self.raw):
                rel = PurePosixPath(Path(d).relative_to(self.raw).as_posix())
                for f in files: idx.setdefault(f, []).append(str(rel/f))
            self._index = {k: sorted(v) for k, v in idx.items()}
        return self._index

    def locate(self, names:pd.Series, default_dir:str) -> pd.Series:
        "Relative path of each file name wherever it lies under the raw folder (`default_dir/name` if absent, for the missing-image report)."
        idx = self.walk()
        hits = names.map(lambda n: idx.get(n, []))
        if (n := int((hits.map(len) > 1).sum())): self.notes['duplicate image files'] = f"{n} file name(s) found in several folders; the first path (sorted) is used, e.g. {hits[hits.map(len) > 1].iloc[0]}"
        return pd.Series([h[0] if h else f'{default_dir}/{n}' for n, h in zip(names, hits)], index=names.index, dtype=object)

# ---------------------------------------------------------------------------------------------------
def array_to_image(a:np.ndarray, size:int, channels:int, lo=None, hi=None) -> np.ndarray:
    "A 2-D (or H×W×3) array as a uint8 image through `load_image` (same resize and crop); non-uint8 arrays are scaled linearly from [lo, hi] (default min–max) to 0–255."
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = a.astype(np.float64); lo = np.nanmin(a) if lo is None else lo; hi = np.nanmax(a) if hi is None else hi
        a = np.clip(np.round((np.nan_to_num(a, nan=lo) - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    from PIL import Image
    Image.fromarray(a).save(buf, format='PNG'); buf.seek(0)
    return load_image(buf, size, channels)

def _check_images(prep:Prep, conv, df:pd.DataFrame) -> pd.DataFrame:
    ok = np.asarray(conv.exists(prep.raw, df['path']) if conv.exists else [(prep.raw/p).is_file() for p in df['path']], dtype=bool)
    if ok.all(): return df
    miss = df['path'][~ok]
    if prep.args.allow_missing_images: return prep.keep(df, ok, f"image missing (--allow-missing-images), e.g. {list(miss[:3])}")
    raise InputError(f"{conv.name}: {len(miss)} of {len(df)} image(s) referenced by the metadata are missing under {prep.raw}, e.g. {list(miss[:5])}; "
                     "check that every archive was downloaded and extracted there, or pass --allow-missing-images to drop those rows")

def _split(prep:Prep, conv, df:pd.DataFrame, groups) -> tuple[pd.Series, str]:
    "The fairkit split (train/val/test), and a description of how it was made."
    a = prep.args
    if conv.official and a.split == 'official':
        off = df['split_official']
        both = df.groupby('patient_id')['split_official'].nunique()
        if (both > 1).any(): raise InputError(f"{conv.name}: the official split puts {int((both > 1).sum())} patient(s) in two splits, e.g. {list(both[both > 1].index[:3])}; use --split fairkit")
        if conv.official == 'split':
            if off.isna().any(): raise InputError(f"{conv.name}: {int(off.isna().sum())} row(s) have no official split; use --split fairkit")
            return off.astype(str), 'official train/val/test'
        f = a.fractions[0] + a.fractions[1]
        part = df[off == 'train']
        inner = patient_split(part, None if groups is None else groups[part.index], (a.fractions[0]/f, a.fractions[1]/f, 0.0), a.seed)
        return off.astype(object).where(off != 'train', inner.reindex(df.index)).astype(str), f'official test; val carved from official train by patient ({a.fractions[1]/f:.3f} of its patients)'
    return patient_split(df, groups, tuple(a.fractions), a.seed), f'fairkit patient split {tuple(a.fractions)}'

def _summary(df:pd.DataFrame, attrs:dict) -> tuple[pd.DataFrame, list]:
    "Counts per split × group × label for every attribute, and the small-cell warnings."
    parts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for name, attr in attrs.items():
            g = attr.assign(df, min_groups=1)
            parts.append(split_summary(df, g).assign(attribute=name))
    t = pd.concat(parts, ignore_index=True)[['attribute', 'split', 'group', 'n_neg', 'n_pos', 'n']]
    t['split'] = pd.Categorical(t['split'], SPLITS)
    return t.sort_values(['attribute', 'split'], kind='stable').reset_index(drop=True), [str(w.message) for w in caught]

def _order(df:pd.DataFrame) -> pd.DataFrame:
    first = [*REQUIRED_COLUMNS, 'split_official', 'study_id', *sorted(c for c in df if c.startswith('label_')), *[c for c in CANONICAL if c in df]]
    first = [c for c in first if c in df]
    raw = sorted(c for c in df if c.endswith('_raw') and c not in first)
    return df[first + raw + [c for c in df if c not in first and c not in raw]]

def print_summary(summary:pd.DataFrame):
    "The summary as one line per attribute group: n (positives) per split."
    t = summary.assign(cell=summary.n.astype(str) + ' (' + summary.n_pos.astype(str) + ')')
    print(t.pivot(index=['attribute', 'group'], columns='split', values='cell').reindex(columns=list(SPLITS)).fillna('0 (0)').to_string())

def _balanced_test(df:pd.DataFrame, attr, path:Path, seed:int) -> dict:
    "Write the test split down-sampled so every group of `attr` has the same size (FairMedFM's test_<attr>.csv, but seeded)."
    test = df[df.split == 'test']
    idx = balanced_subsample(test, attr.assign(test, source=f'{path.name}: test split'), seed=seed)
    save_table(test.loc[idx], path)
    return dict(file=path.name, rows=len(idx))

def prepare(conv, args) -> dict:
    "Run converter `conv` with parsed `args`; write the outputs; return metadata, summary and report."
    out, prep = Path(args.out).expanduser(), Prep(args.raw, args, conv.name)
    df = conv.read(prep).reset_index(drop=True)
    df = _check_images(prep, conv, df).reset_index(drop=True)
    df = df.drop(columns=[c for c in CANONICAL if c in df and df[c].isna().all()])
    if 'split_official' not in df: df['split_official'] = None
    attrs = dataset_attributes(df, conv.name)
    strat = default_attribute(conv.name)
    groups = attrs[strat].assign(df, min_groups=1).fillna('(empty)') if strat in attrs else None  # rows without a group form their own stratum
    df['split'], how = _split(prep, conv, df, groups)
    df = validate_metadata(_order(df), source=str(out/'metadata.csv'))
    for c in [c for c in df if c.startswith('label_')]:
        bad = df[c][df[c].notna() & ~df[c].isin([0, 1])]
        if len(bad): raise InputError(f"{conv.name}: task column {c!r} must be 0/1 or empty; got {_fmt_values(bad)}")
        df[c] = df[c].astype('Int64')
    if 'fitzpatrick' in df: df['fitzpatrick'] = df['fitzpatrick'].astype('Int64')
    summary, warns = _summary(df, attrs)
    save_table(df, out/'metadata.csv'); save_table(summary, out/'summary.csv')
    balanced = {name: _balanced_test(df, get_attribute(name, attrs), out/f"test_{name.replace('*', 'x')}_balanced.csv", args.seed) for name in args.balanced_test}
    print(f"{conv.name}: {len(df)} images of {df.patient_id.nunique()} patients/units -> {out/'metadata.csv'} ({how})")
    print_summary(summary)
    for w in warns: print('warning:', w)
    report = dict(dataset=conv.name, fairkit_version=fairkit.__version__, raw=str(prep.raw), out=str(out.resolve()),
                  options=vars(args), raw_files=prep.files, steps=prep.steps, notes=prep.notes,
                  rows=len(df), units=int(df.patient_id.nunique()), seed=args.seed, fractions=list(args.fractions), split=how,
                  stratified_by=f"{strat} x any-positive label" if groups is not None else 'any-positive label',
                  attributes=list(attrs), counts=summary.assign(split=summary.split.astype(str)).to_dict('records'), warnings=warns,
                  balanced_test=balanced)
    save_json(report, out/'prep_report.json')
    cache = None
    if args.cache:
        cache = build_image_cache(list(df.path), list(df.sample_id), out/'cache', size=args.size, channels=args.channels, image_root=prep.raw,
                                  loader=conv.loader or load_image, n_jobs=args.jobs, desc=f'{conv.name}: caching images')
        report['cache'] = dict(folder='cache', n=len(cache), size=args.size, channels=args.channels, unreadable=int((~cache.ok).sum()),
                               loader=(conv.loader or load_image).__doc__)
        save_json(report, out/'prep_report.json')
        print(repr(cache))
        print(f"\nready: fairkit run -p dataset {conv.name} -p dataset_kwargs \"{{root: {out.resolve()}}}\"  (or move {out} to $FAIRKIT_DATA/{conv.name})")
    else: print(f"\nno image cache built (--no-cache): runs need one; build it with `fairkit prep {conv.name} --raw {prep.raw} --out {out}`")
    return dict(metadata=df, summary=summary, report=report, cache=cache, out=out)

# ---------------------------------------------------------------------------------------------------
def parser(conv, prog:str|None=None) -> argparse.ArgumentParser:
    "The argument parser of one converter: common flags plus the converter's own."
    p = argparse.ArgumentParser(prog=prog or f'fairkit prep {conv.name}', description=conv.description.strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--raw', required=True, help='folder holding the raw download (layout: see the prep.* notebooks)')
    p.add_argument('--out', required=True, help='output folder (metadata.csv, summary.csv, prep_report.json, cache/)')
    p.add_argument('--seed', type=int, default=0, help='split and subsampling seed (default 0)')
    p.add_argument('--fractions', type=float, nargs=3, default=[0.7, 0.1, 0.2], metavar=('TRAIN', 'VAL', 'TEST'), help='split fractions (default 0.7 0.1 0.2)')
    if conv.official:
        p.add_argument('--split', choices=['official', 'fairkit'], default='official',
                       help="'official': the distributor's patient-wise split" + (' (val carved from its train part)' if conv.official == 'train_test' else '') + "; 'fairkit': a fresh patient split")
    p.add_argument('--cache', action=argparse.BooleanOptionalAction, default=True, help='build the image cache in OUT/cache, which runs need (default; --no-cache: metadata only)')
    p.add_argument('--size', type=int, default=224, help='cache image side (default 224)')
    p.add_argument('--channels', type=int, choices=[1, 3], default=conv.channels, help=f'cache channels (default {conv.channels})')
    p.add_argument('--jobs', type=int, default=2, help='image decoding threads (default 2)')
    p.add_argument('--balanced-test', nargs='+', default=[], metavar='ATTR', help="write test_<ATTR>_balanced.csv: the test split down-sampled so every group of ATTR has the same size (FairMedFM-style)")
    p.add_argument('--allow-missing-images', action='store_true', help='drop rows whose image is missing instead of failing')
    for flag, kw in conv.options.items(): p.add_argument(flag, **kw)
    return p

def run_cli(conv, argv:list|None=None) -> dict:
    "Parse `argv` and run; with `argv=None` (a shell command) an `InputError` is printed and exits with status 2."
    p = parser(conv, None if argv is not None else f'python -m data_prep.{conv.name}')
    if argv is not None: return prepare(conv, p.parse_args(argv))
    try: return prepare(conv, p.parse_args())
    except InputError as e: print(f"error: {e}", file=sys.stderr); sys.exit(2)
