"""The theme taxonomy (ingest/themes.yaml) as typed records.

The YAML is data so that planners can extend keyword lists without touching code; this module only
loads and validates it, and answers label/definition look-ups with an English fallback.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nordsearch.ingest.records import LANGUAGES, normalize_language

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent / "themes.yaml"
FALLBACK_LANGUAGE = "en"


class TaxonomyError(ValueError):
    """The taxonomy file is malformed (missing id, language or keywords)."""


@dataclass(frozen=True, slots=True)
class Theme:
    """One theme: its id, and per language its label, one-sentence definition and keyword stems."""

    id: str
    labels: dict[str, str]
    definitions: dict[str, str]
    keywords: dict[str, tuple[str, ...]]
    # Stems whose tokens never count for this theme, whatever the language (false friends).
    exclude: tuple[str, ...] = ()

    def label(self, lang: str | None = None) -> str:
        return _pick(self.labels, lang)

    def definition(self, lang: str | None = None) -> str:
        return _pick(self.definitions, lang)


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The ordered themes; order is the file's and is used to break ties deterministically."""

    themes: tuple[Theme, ...]
    _by_id: dict[str, Theme] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({t.id: t for t in self.themes})

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]

    def __iter__(self) -> Iterator[Theme]:
        return iter(self.themes)

    def __len__(self) -> int:
        return len(self.themes)

    def __contains__(self, theme_id: object) -> bool:
        return theme_id in self._by_id

    def get(self, theme_id: str) -> Theme:
        try:
            return self._by_id[theme_id]
        except KeyError:
            raise KeyError(f"unknown theme id: {theme_id!r}") from None

    def label(self, theme_id: str, lang: str | None = None) -> str:
        """The theme's label in ``lang`` (aliases such as "no" accepted), falling back to English."""
        return self.get(theme_id).label(lang)

    def definition(self, theme_id: str, lang: str | None = None) -> str:
        return self.get(theme_id).definition(lang)


def _pick(by_lang: dict[str, str], lang: str | None) -> str:
    code = normalize_language(lang) or FALLBACK_LANGUAGE
    return by_lang.get(code) or by_lang[FALLBACK_LANGUAGE]


def _per_language(raw: object, what: str, theme_id: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise TaxonomyError(f"theme {theme_id!r}: {what} must be a mapping of language -> value")
    out: dict[str, object] = {}
    for code, value in raw.items():
        lang = normalize_language(str(code))
        if lang is None:
            raise TaxonomyError(f"theme {theme_id!r}: unknown language {code!r} in {what}")
        out[lang] = value
    missing = [lang for lang in LANGUAGES if not out.get(lang)]
    if missing and what != "exclude":
        raise TaxonomyError(f"theme {theme_id!r}: {what} missing for {', '.join(missing)}")
    return out


def _stems(values: object, theme_id: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise TaxonomyError(f"theme {theme_id!r}: keywords must be lists of non-empty strings")
    # Lowercase once here: the tagger matches lowercased tokens. dict.fromkeys drops duplicates, keeps order.
    return tuple(dict.fromkeys(v.strip().lower() for v in values))


def parse_taxonomy(data: object) -> Taxonomy:
    """Build a Taxonomy from the parsed YAML document, raising TaxonomyError when anything is missing."""
    if not isinstance(data, dict) or not isinstance(data.get("themes"), list):
        raise TaxonomyError("taxonomy must be a mapping with a 'themes' list")
    themes: list[Theme] = []
    for raw in data["themes"]:
        theme_id = str(raw.get("id", "")).strip() if isinstance(raw, dict) else ""
        if not theme_id:
            raise TaxonomyError("every theme needs an id")
        if any(t.id == theme_id for t in themes):
            raise TaxonomyError(f"duplicate theme id {theme_id!r}")
        labels = _per_language(raw.get("labels"), "labels", theme_id)
        definitions = _per_language(raw.get("definitions"), "definitions", theme_id)
        keywords = _per_language(raw.get("keywords"), "keywords", theme_id)
        exclude = _per_language(raw.get("exclude") or {}, "exclude", theme_id)
        themes.append(
            Theme(
                id=theme_id,
                labels={k: str(v).strip() for k, v in labels.items()},
                definitions={k: str(v).strip() for k, v in definitions.items()},
                keywords={k: _stems(v, theme_id) for k, v in keywords.items()},
                exclude=tuple(dict.fromkeys(s for v in exclude.values() for s in _stems(v, theme_id))),
            )
        )
    if not themes:
        raise TaxonomyError("taxonomy has no themes")
    return Taxonomy(themes=tuple(themes))


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate the taxonomy file (default: ingest/themes.yaml beside this module)."""
    source = Path(path) if path is not None else DEFAULT_TAXONOMY_PATH
    with source.open(encoding="utf-8") as fh:
        # the C loader when PyYAML has it: 5x faster, and every process loads this file
        return parse_taxonomy(yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506


@functools.cache
def theme_ids() -> tuple[str, ...]:
    """The shipped taxonomy's theme ids, loaded once: what a theme filter is checked against."""
    return tuple(load_taxonomy().ids)
