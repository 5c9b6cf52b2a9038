"""Theme tagging: which taxonomy themes a passage, and a whole document, is about.

Two kinds of evidence are mixed, because each fails where the other works:

* lexical: keyword stems from ingest/themes.yaml matched on lowercased tokens, as prefixes and (in the
  compounding Nordic languages) inside compounds, so ``joukkoliikenne`` hits ``liikenne``. Precise and
  explainable, but blind to paraphrase and to languages whose list lacks a word.
* semantic: cosine similarity of the passage vector to the theme definitions embedded in all five
  languages. Crosses languages and paraphrase, but every passage is "similar" to every theme a bit, so
  it is turned into a contrast between themes before use.

Scores are in [0, 1]; per-theme thresholds (ingest/theme_thresholds.yaml, written by
``ingest.theme_calibration.optimize``) decide what is kept. The thresholds favour precision: a passage with no
theme is better than a passage with a wrong one. Everything is deterministic: no sampling, ties broken
by taxonomy order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nordsearch.ingest.records import LANGUAGES, normalize_language
from nordsearch.ingest.taxonomy import Taxonomy

# The thresholds shipped with the package (read-only once installed); tuned ones live in the data
# dir (Settings.theme_thresholds), where `nordsearch themes optimize` writes them.
SHIPPED_THRESHOLDS = Path(__file__).resolve().parent / "theme_thresholds.yaml"

EmbedFn = Callable[[list[str]], np.ndarray]

# Languages that glue words into compounds; only there may a stem match inside a token.
COMPOUNDING_LANGUAGES = frozenset({"fi", "sv", "nb", "da"})
# Shorter stems match inside compounds far too often ("bil" in "bilaga"), so they only match as prefixes.
MIN_COMPOUND_STEM = 4
# Stems of the other languages are a fallback for misdetected or mixed-language passages; only long
# stems, as prefixes, at reduced weight, since short stems are false friends across languages.
FALLBACK_MIN_STEM = 6
FALLBACK_WEIGHT = 0.5
# Lexical score = 1 - exp(-hits / (LEX_SCALE * (tokens + LEX_PAD))): about 0.63 at 2.5% keyword density.
# The pad keeps one keyword in a five-word snippet from looking like a dense on-topic passage.
LEX_SCALE = 0.025
LEX_PAD = 15
# Semantic score = sigmoid(EMB_SLOPE * (z - EMB_CENTER)) of the theme's z-score among all themes for
# the passage: only themes clearly closer than the passage's average similarity score high.
EMB_CENTER = 1.0
EMB_SLOPE = 2.0
# Document aggregation: a theme's document score is the length-weighted mean of its passage scores
# over the best passages that together cover TOP_FRACTION of the document's text, counting passages under the
# passage threshold as 0. It needs the theme in a fair part of the text (one stray on-topic paragraph
# in a long report is diluted) and rewards strong passages; a one-passage document is judged by that
# passage. By text, not by passage count: since passages stopped spanning sections, a document cut
# into many short sections would otherwise be judged on a fifth of its headings (dev gold micro-F1
# 0.761 -> 0.728 by count, 0.752 by text; 0.759 by text with the former passages).
TOP_FRACTION = 0.2
# Distinct (language, token) decisions remembered; a corpus vocabulary fits, a server's memory stays bounded.
TOKEN_CACHE_LIMIT = 500_000

_TOKEN_RE = re.compile(r"\w+(?:[-&'’]\w+)*")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens; hyphenated compounds (vuokra-asunto, co2-neutral) stay one token."""
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True, slots=True)
class ThemeThresholds:
    """Calibrated decision parameters: a shared threshold plus small per-theme offsets at each level."""

    lexical_weight: float = 0.5
    passage_threshold: float = 0.5
    document_threshold: float = 0.4
    passage_offsets: dict[str, float] = field(default_factory=dict)
    document_offsets: dict[str, float] = field(default_factory=dict)

    def passage(self, theme_id: str) -> float:
        return self.passage_threshold + self.passage_offsets.get(theme_id, 0.0)

    def document(self, theme_id: str) -> float:
        return self.document_threshold + self.document_offsets.get(theme_id, 0.0)

    def to_dict(self) -> dict[str, object]:
        # float(): numpy scalars from a grid search would otherwise reach yaml.safe_dump.
        return {
            "lexical_weight": round(float(self.lexical_weight), 4),
            "passage_threshold": round(float(self.passage_threshold), 4),
            "document_threshold": round(float(self.document_threshold), 4),
            "passage_offsets": {k: round(float(v), 4) for k, v in sorted(self.passage_offsets.items()) if v},
            "document_offsets": {
                k: round(float(v), 4) for k, v in sorted(self.document_offsets.items()) if v
            },
        }


def load_thresholds(path: str | Path | None = None) -> ThemeThresholds:
    """Thresholds from the YAML file written by optimize (default: the shipped one); the built-in
    defaults when the file does not exist."""
    source = Path(path) if path is not None else SHIPPED_THRESHOLDS
    if not source.exists():
        return ThemeThresholds()
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    return ThemeThresholds(
        lexical_weight=float(data.get("lexical_weight", 0.5)),
        passage_threshold=float(data.get("passage_threshold", 0.5)),
        document_threshold=float(data.get("document_threshold", 0.4)),
        passage_offsets={str(k): float(v) for k, v in (data.get("passage_offsets") or {}).items()},
        document_offsets={str(k): float(v) for k, v in (data.get("document_offsets") or {}).items()},
    )


def save_thresholds(thresholds: ThemeThresholds, path: str | Path, comment: str = "") -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Theme decision thresholds, written by ingest.theme_calibration.optimize; see ingest/themes.py.\n"
    )
    if comment:
        header += "".join(f"# {line}\n" for line in comment.splitlines())
    target.write_text(header + yaml.safe_dump(thresholds.to_dict(), sort_keys=False, allow_unicode=True))
    return target


@dataclass(frozen=True, slots=True)
class _Matcher:
    """Compiled keyword rules of one language (plus English, the lingua franca of planning jargon)."""

    exact: dict[str, tuple[int, ...]]  # token -> theme indexes
    prefix: list[tuple[re.Pattern[str], int]]  # per theme: ^(stem|stem...)
    inside: list[tuple[re.Pattern[str], int]]  # per theme: (stem|stem...) anywhere in the token
    # Multi-word phrases by first word: (following words, theme index). Every word but the last must
    # match a token exactly, the last one as a prefix.
    phrases: dict[str, list[tuple[tuple[str, ...], int]]]


def _alternation(stems: Sequence[str]) -> str:
    # Longest first so the regex engine prefers the most specific stem; sorted for determinism.
    return "|".join(re.escape(s) for s in sorted(set(stems), key=lambda s: (-len(s), s)))


def _prefix_only(stems: Sequence[str]) -> list[str]:
    """Plain stems marked ``^`` (prefix, never inside a compound); phrases and ``=``/``^`` rules unchanged."""
    return [s if s[:1] in "=^" or " " in s else "^" + s for s in stems]


def _compile(per_theme: list[tuple[list[str], bool]]) -> _Matcher:
    """per_theme: (stems, compounding) for each theme index."""
    exact: dict[str, list[int]] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    prefix, inside = [], []
    for i, (stems, compounding) in enumerate(per_theme):
        pre: list[str] = []
        ins: list[str] = []
        for stem in stems:
            if " " in stem:
                first, *rest = tokenize(stem)
                phrases.setdefault(first, []).append((tuple(rest), i))
            elif stem.startswith("="):
                exact.setdefault(stem[1:], []).append(i)
            elif stem.startswith("^"):
                pre.append(stem[1:])
            elif compounding and len(stem) >= MIN_COMPOUND_STEM:
                ins.append(stem)
            else:
                pre.append(stem)
        if pre:
            prefix.append((re.compile("^(?:" + _alternation(pre) + ")"), i))
        if ins:
            inside.append((re.compile(_alternation(ins)), i))
    return _Matcher({k: tuple(v) for k, v in exact.items()}, prefix, inside, phrases)


class ThemeTagger:
    """Scores passages against the taxonomy and aggregates passage scores into document themes.

    ``embed_definitions`` embeds texts as passages (the same model and prefix as the passage vectors
    given to ``tag``); without it, or without passage vectors, the tagger is purely lexical.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        embed_definitions: EmbedFn | None = None,
        thresholds: ThemeThresholds | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.theme_ids: list[str] = taxonomy.ids
        self.thresholds = thresholds if thresholds is not None else load_thresholds()
        self._embed_definitions = embed_definitions
        self._anchors: np.ndarray | None = None  # (themes, languages, dim), built on first use
        self._exclude = [re.compile(_alternation(t.exclude)) if t.exclude else None for t in taxonomy.themes]
        self._matchers: dict[str | None, _Matcher] = {}
        self._fallback = _compile(
            [
                (
                    [
                        s
                        for lang in LANGUAGES
                        for s in t.keywords[lang]
                        if len(s.lstrip("=^")) >= FALLBACK_MIN_STEM and " " not in s and not s.startswith("=")
                    ],
                    False,
                )
                for t in taxonomy.themes
            ]
        )
        self._token_cache: dict[tuple[str | None, str], tuple[tuple[int, float], ...]] = {}

    # ---- lexical evidence -------------------------------------------------------------------------

    def _matcher(self, lang: str | None) -> _Matcher:
        if lang not in self._matchers:
            if lang is None:  # unknown language: every list, as plain prefixes
                rules = [([s for code in LANGUAGES for s in t.keywords[code]], False) for t in self.taxonomy]
            else:
                # English does not compound: its stems match Nordic tokens only as prefixes ("sports" must not
                # match inside "transportsektorn").
                rules = [
                    (
                        [*t.keywords[lang], *(_prefix_only(t.keywords["en"]) if lang != "en" else ())],
                        lang in COMPOUNDING_LANGUAGES,
                    )
                    for t in self.taxonomy
                ]
            self._matchers[lang] = _compile(rules)
        return self._matchers[lang]

    def _token_themes(self, token: str, lang: str | None) -> tuple[tuple[int, float], ...]:
        key = (lang, token)
        cached = self._token_cache.get(key)
        if cached is not None:
            return cached
        parts = [token, *token.split("-")] if "-" in token else [token]
        found: dict[int, float] = {}
        matcher = self._matcher(lang)
        for part in parts:
            for i in matcher.exact.get(part, ()):
                found[i] = 1.0
        for pattern, i in matcher.prefix:
            if i not in found and any(pattern.match(p) for p in parts):
                found[i] = 1.0
        for pattern, i in matcher.inside:
            if i not in found and pattern.search(token):
                found[i] = 1.0
        if lang is not None:
            for pattern, i in self._fallback.prefix:
                if i not in found and any(pattern.match(p) for p in parts):
                    found[i] = FALLBACK_WEIGHT
        result = tuple(
            (i, w)
            for i, w in sorted(found.items())
            if not (self._exclude[i] is not None and self._exclude[i].search(token))
        )
        if len(self._token_cache) >= TOKEN_CACHE_LIMIT:  # bound memory in a long-running server
            self._token_cache.clear()
        self._token_cache[key] = result
        return result

    def keyword_hits(self, text: str, language: str | None) -> np.ndarray:
        """Weighted keyword hits per theme (taxonomy order) and, as the last element, the token count."""
        lang = normalize_language(language)
        tokens = tokenize(text)
        hits = np.zeros(len(self.theme_ids) + 1, dtype=np.float64)
        for token in tokens:
            for i, weight in self._token_themes(token, lang):
                hits[i] += weight
        phrases = self._matcher(lang).phrases
        for pos, token in enumerate(tokens):
            for rest, i in phrases.get(token, ()):
                following = tokens[pos + 1 : pos + 1 + len(rest)]
                if (
                    len(following) == len(rest)
                    and following[:-1] == list(rest[:-1])
                    and following[-1].startswith(rest[-1])
                ):
                    hits[i] += 1
        hits[-1] = len(tokens)
        return hits

    def lexical_scores(self, texts: Sequence[str], languages: Sequence[str | None]) -> np.ndarray:
        """(passages, themes) lexical scores in [0, 1] from keyword density."""
        out = np.zeros((len(texts), len(self.theme_ids)), dtype=np.float64)
        for row, (text, lang) in enumerate(zip(texts, languages, strict=True)):
            hits = self.keyword_hits(text, lang)
            out[row] = 1.0 - np.exp(-hits[:-1] / (LEX_SCALE * (hits[-1] + LEX_PAD)))
        return out

    # ---- semantic evidence ------------------------------------------------------------------------

    def warm(self) -> None:
        """Embed the theme definitions now (once), rather than at the first passage scored."""
        self._definition_anchors()

    def _definition_anchors(self) -> np.ndarray | None:
        if self._embed_definitions is None:
            return None
        if self._anchors is None:
            texts = [f"{t.label(lang)}: {t.definition(lang)}" for t in self.taxonomy for lang in LANGUAGES]
            vecs = np.asarray(self._embed_definitions(texts), dtype=np.float64)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
            self._anchors = vecs.reshape(len(self.theme_ids), len(LANGUAGES), -1)
        return self._anchors

    def semantic_scores(self, vectors: np.ndarray) -> np.ndarray | None:
        """(passages, themes) semantic scores in [0, 1], or None when no definitions can be embedded.

        Per theme the best of its five language definitions counts (a Finnish passage sits closest to the
        Finnish wording); the similarities are then z-scored across themes per passage, because raw
        cosine similarities of e5 all sit in a narrow band whatever the topic.
        """
        anchors = self._definition_anchors()
        if anchors is None:
            return None
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] == 0:
            return np.zeros((v.shape[0] if v.ndim == 2 else 0, len(self.theme_ids)))
        v = v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)
        sims = np.einsum("nd,tld->ntl", v, anchors).max(axis=2)
        z = (sims - sims.mean(axis=1, keepdims=True)) / (sims.std(axis=1, keepdims=True) + 1e-6)
        return 1.0 / (1.0 + np.exp(-EMB_SLOPE * (z - EMB_CENTER)))

    # ---- decisions --------------------------------------------------------------------------------

    def scores(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None],
        vectors: np.ndarray | None = None,
    ) -> np.ndarray:
        """(passages, themes) combined scores in [0, 1], columns in taxonomy order (``theme_ids``)."""
        lex = self.lexical_scores(texts, languages)
        sem = self.semantic_scores(vectors) if vectors is not None else None
        return combine(lex, sem, self.thresholds.lexical_weight)

    def tag(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None],
        vectors: np.ndarray | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Per passage, the themes whose score reaches their passage threshold, best first."""
        return self.passage_themes(self.scores(texts, languages, vectors))

    def passage_themes(self, scores: np.ndarray) -> list[list[tuple[str, float]]]:
        limits = np.array([self.thresholds.passage(t) for t in self.theme_ids])
        return [_ranked(self.theme_ids, row, row >= limits) for row in np.asarray(scores)]

    def document_themes(
        self,
        passage_scores: Sequence[Sequence[tuple[str, float]]] | np.ndarray,
        passage_lengths: Sequence[int],
    ) -> list[tuple[str, float]]:
        """Document themes from its passages' scores (``tag`` output or the ``scores`` matrix), best first.

        Only scores over the passage thresholds count, so ``tag`` output and the full matrix agree.
        ``passage_lengths`` (characters or words): a passage shorter than half the median length counts
        proportionally less (headings and table rows must not outvote real paragraphs).
        """
        matrix = self._as_matrix(passage_scores)
        doc = document_scores(matrix, passage_lengths, self.thresholds, self.theme_ids)
        limits = np.array([self.thresholds.document(t) for t in self.theme_ids])
        return _ranked(self.theme_ids, doc, doc >= limits)

    def with_thresholds(self, thresholds: ThemeThresholds) -> ThemeTagger:
        """A tagger sharing this one's compiled rules and definition vectors, with other thresholds."""
        clone = object.__new__(ThemeTagger)
        clone.__dict__.update(self.__dict__)
        clone.thresholds = thresholds
        return clone

    def _as_matrix(self, passage_scores: Sequence[Sequence[tuple[str, float]]] | np.ndarray) -> np.ndarray:
        if isinstance(passage_scores, np.ndarray):
            return passage_scores
        index = {t: i for i, t in enumerate(self.theme_ids)}
        matrix = np.zeros((len(passage_scores), len(self.theme_ids)))
        for row, pairs in enumerate(passage_scores):
            for theme_id, score in pairs:
                matrix[row, index[theme_id]] = score
        return matrix


def combine(lexical: np.ndarray, semantic: np.ndarray | None, lexical_weight: float) -> np.ndarray:
    """Convex mix of the two evidences; lexical alone when there are no vectors."""
    if semantic is None:
        return lexical
    return lexical_weight * lexical + (1.0 - lexical_weight) * semantic


def document_scores(
    scores: np.ndarray,
    lengths: Sequence[int],
    thresholds: ThemeThresholds,
    theme_ids: Sequence[str],
) -> np.ndarray:
    """Per theme: the length-weighted mean of the thresholded, length-damped scores of the best
    passages that together cover TOP_FRACTION of the document's text (the best one always)."""
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.shape[0] == 0:
        return np.zeros(len(theme_ids))
    limits = np.array([thresholds.passage(t) for t in theme_ids])
    kept = np.where(matrix >= limits, matrix, 0.0)
    sizes = np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
    damping = np.minimum(1.0, sizes / (0.5 * np.median(sizes)))
    kept = kept * damping[:, None]
    # the best passages that together cover TOP_FRACTION of the document's text, best first, each
    # weighted by its length (whole passages: the calibrated thresholds read scores of whole passages)
    order = np.argsort(-kept, axis=0, kind="stable")
    weight = sizes[order]  # per theme column: the lengths in that column's best-first order
    take = np.cumsum(weight, axis=0) - weight < TOP_FRACTION * sizes.sum()  # the best one always
    top = np.take_along_axis(kept, order, axis=0)
    return (top * weight * take).sum(axis=0) / (weight * take).sum(axis=0)


def _ranked(theme_ids: Sequence[str], row: np.ndarray, keep: np.ndarray) -> list[tuple[str, float]]:
    # Stable sort on -score keeps taxonomy order among equal scores: deterministic output.
    order = sorted((i for i in range(len(theme_ids)) if keep[i]), key=lambda i: -row[i])
    return [(theme_ids[i], round(float(row[i]), 4)) for i in order if math.isfinite(row[i])]
