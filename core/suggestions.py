"""Dispatch and category suggestions learned from history, with the words that weighed most.

A linear model over three kinds of evidence:

* the text (subject and content) as TF-IDF of character 1–3-grams, which needs no word list and
  copes with place names and typos;
* the category tree's own words as prior knowledge: for each first-level category, how many of the
  words of its second- and third-level names (``噪音污染``, ``物业服务``, ``退休金发放``…) the text
  contains, in the subject and in the whole. With a few hundred labelled messages these carry more
  than the n-grams do;
* the order's channel, kind, category and area, each as an indicator.

Training (``fit``) uses scikit-learn's linear SVM; the learned weights are stored as plain JSON in
``dispatch_models`` (versioned, with the evaluation measured before the final fit), and a suggestion is
computed from them in pure Python, well under the 5 ms an intake may spend on it. Rules still win: the
order service asks the model only when no routing rule matched.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core import clock

DATA_DIR = Path(__file__).parent / "demo_data"
CATEGORY_TREE = DATA_DIR / "message-categories.csv"
MAX_TEXT = 600  # characters of subject + content looked at: bounded work per suggestion
LEXICON_WEIGHT = 0.5
FIELD_WEIGHT = 0.5
SVM_C = 0.5
PRUNE = 1e-3
MAX_GRAMS = 80000
_SPACE = re.compile(r"\s+")
_GENERIC = {"其他", "管理", "问题", "政策", "建设", "人员", "服务", "事业", "工作"}


class Example(msgspec.Struct, kw_only=True):
    """One order (or labelled message) as the model sees it."""

    subject: str
    content: str = ""
    channel: str = ""
    kind: str = ""
    category: str = ""
    area: str = ""
    label: str = ""


class Ranked(msgspec.Struct, frozen=True):
    label: str
    confidence: float
    reasons: list[str]

    @property
    def department(self) -> str:
        return self.label

    @property
    def reason(self) -> str:
        return f"模型建议（置信度 {self.confidence:.0%}）：" + "、".join(self.reasons)


def load_lexicon(path: Path = CATEGORY_TREE) -> dict[str, list[str]]:
    """Words of each first-level category's sub-category names that belong to that category only."""
    words: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            words.setdefault(row["level1"], set())
            for name in (row["level2"], row["level3"]):
                words[row["level1"]].update(_name_words(name))
    return _unique(words)


def lexicon_from_tree(rows: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """The same from the centre's editable tree: (first-level name, names below it)."""
    words: dict[str, set[str]] = {}
    for top, names in rows:
        words.setdefault(top, set())
        for name in names:
            words[top].update(_name_words(name))
    return _unique(words)


def _name_words(name: str) -> set[str]:
    from core.search import query_tokens

    if not name or name in _GENERIC:
        return set()
    found = {name} if len(name) >= 2 else set()
    found.update(w for w in query_tokens(name) if len(w) >= 2 and w not in _GENERIC)
    return found


def _unique(words: dict[str, set[str]]) -> dict[str, list[str]]:
    seen = Counter(w for ws in words.values() for w in ws)
    return {top: sorted(w for w in ws if seen[w] == 1) for top, ws in words.items()}


def _ngrams(text: str) -> Counter:
    text = _SPACE.sub(" ", text.lower())[:MAX_TEXT]
    grams = Counter(text)
    grams.update(text[i:i + 2] for i in range(len(text) - 1))
    grams.update(text[i:i + 3] for i in range(len(text) - 2))
    grams.pop(" ", None)
    return grams


@dataclass
class Featurizer:
    """Turns an Example into a sparse feature dict; ``idf`` is learned from the training examples."""

    lexicon: dict[str, list[str]]
    idf: dict[str, float]

    def __post_init__(self):
        owner = {w: top for top, words in self.lexicon.items() for w in words}
        self._owner = owner
        self._words = re.compile("|".join(map(re.escape, sorted(owner, key=len, reverse=True)))) if owner else None

    def matched_words(self, text: str) -> dict[str, set[str]]:
        """The category words a text contains, by first-level category."""
        found: dict[str, set[str]] = {}
        if self._words is not None:
            for word in set(self._words.findall(text)):
                found.setdefault(self._owner[word], set()).add(word)
        return found

    def features(self, example: Example, *, use_category: bool = True) -> dict[str, float]:
        text = f"{example.subject}\n{example.content}"
        weights = {}
        for gram, count in _ngrams(text).items():
            idf = self.idf.get(gram)
            if idf is not None:
                weights["t:" + gram] = (1 + math.log(count)) * idf
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        features = {k: v / norm for k, v in weights.items()}
        features.update(self.other_features(example, use_category=use_category))
        return features

    def other_features(self, example: Example, *, use_category: bool = True,
                       matched: dict | None = None) -> dict[str, float]:
        """The category words (also left in ``matched``) and the order's fields: all but the n-grams."""
        text = f"{example.subject}\n{example.content}"
        features = {}
        in_subject = self.matched_words(example.subject.lower())
        found = self.matched_words(text.lower()[:MAX_TEXT * 2])
        if matched is not None:
            matched.update(found)
        for top, words in found.items():
            features["w:" + top] = LEXICON_WEIGHT * (math.log1p(len(words)) + math.log1p(len(in_subject.get(top, ()))))
        for name in ("channel", "kind", "area") + (("category",) if use_category else ()):
            value = getattr(example, name)
            if value:
                features[f"f:{name}={value}"] = FIELD_WEIGHT
        return features

    @classmethod
    def learn(cls, examples: list[Example], lexicon: dict[str, list[str]], min_df: int = 1) -> Featurizer:
        df: Counter = Counter()
        for e in examples:
            df.update(_ngrams(f"{e.subject}\n{e.content}").keys())
        n = len(examples)
        common = [(g, c) for g, c in df.most_common(MAX_GRAMS) if c >= min_df]  # bounds the model's size
        idf = {g: math.log((1 + n) / (1 + c)) + 1 for g, c in common}
        return cls(lexicon=lexicon, idf=idf)


def _explain(feature: str) -> str:
    kind, _, value = feature.partition(":")
    if kind == "t":
        return f"「{value}」"
    if kind == "w":
        return f"属于「{value}」的分类用词"
    name, _, field_value = value.partition("=")
    return {"channel": "渠道", "kind": "诉求类型", "area": "区域", "category": "分类"}.get(name, name) + f"「{field_value}」"


class Model:
    """A trained linear model: per-class weights of sparse features, and the featurizer."""

    def __init__(self, classes: list[str], weights: dict[str, list[float]], bias: list[float],
                 featurizer: Featurizer, use_category: bool = True):
        import numpy

        self.classes = [str(c) for c in classes]
        self.weights = weights
        self.bias = bias
        self.featurizer = featurizer
        self.use_category = use_category
        self._names = list(weights)
        self._column = {name: j for j, name in enumerate(self._names)}
        self._matrix = numpy.array([weights[n] for n in self._names], dtype=float).reshape(
            len(self._names), len(self.classes))
        self._bias = numpy.array(bias, dtype=float)
        # one lookup per n-gram at suggestion time: its idf and its row of weights (-1: none)
        self._grams = {g: (idf, self._column.get("t:" + g, -1)) for g, idf in featurizer.idf.items()}

    # -- training -----------------------------------------------------------------------------------

    @classmethod
    def fit(cls, examples: list[Example], lexicon: dict[str, list[str]], *, use_category: bool = True,
            min_df: int = 1) -> Model:
        from scipy.sparse import csr_matrix
        from sklearn.svm import LinearSVC

        featurizer = Featurizer.learn(examples, lexicon, min_df=min_df)
        rows = [featurizer.features(e, use_category=use_category) for e in examples]
        index: dict[str, int] = {}
        data, indices, indptr = [], [], [0]
        for row in rows:
            for name, value in row.items():
                indices.append(index.setdefault(name, len(index)))
                data.append(value)
            indptr.append(len(indices))
        matrix = csr_matrix((data, indices, indptr), shape=(len(rows), max(len(index), 1)))
        labels = [e.label for e in examples]
        classes = sorted(set(labels))
        if len(classes) == 1:
            return cls(classes, {}, [1.0], featurizer, use_category)
        svm = LinearSVC(C=SVM_C)
        svm.fit(matrix, labels)
        import numpy

        coef = svm.coef_ if len(classes) > 2 else numpy.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept = list(svm.intercept_) if len(classes) > 2 else [-svm.intercept_[0], svm.intercept_[0]]
        names = list(index)
        keep = numpy.flatnonzero(numpy.abs(coef).max(axis=0) >= PRUNE)  # weights too small to matter go
        columns = coef[:, keep].T.round(5).tolist()
        weights = {names[j]: column for j, column in zip(keep.tolist(), columns)}
        idf = {g: round(v, 4) for g, v in featurizer.idf.items()}
        return cls(list(svm.classes_), weights, [float(b) for b in intercept],
                   Featurizer(lexicon=lexicon, idf=idf), use_category)

    # -- use ----------------------------------------------------------------------------------------

    def rank(self, example: Example, top: int = 3) -> list[Ranked]:
        import numpy

        rows, values, norm = [], [], 0.0
        log, grams = math.log, self._grams
        for gram, count in _ngrams(f"{example.subject}\n{example.content}").items():
            hit = grams.get(gram)
            if hit is not None:
                value = (1 + log(count)) * hit[0]
                norm += value * value
                if hit[1] >= 0:
                    rows.append(hit[1])
                    values.append(value)
        norm = math.sqrt(norm) or 1.0
        values = [v / norm for v in values]
        matched: dict[str, set[str]] = {}
        for name, value in self.featurizer.other_features(example, use_category=self.use_category,
                                                          matched=matched).items():
            j = self._column.get(name)
            if j is not None:
                rows.append(j)
                values.append(value)
        contributions = self._matrix[rows] * numpy.array(values, dtype=float)[:, None]
        scores = contributions.sum(axis=0) + self._bias
        exp = numpy.exp(2 * (scores - scores.max()))
        confidence = exp / exp.sum()
        ranked = []
        for k in numpy.argsort(-scores)[:top]:
            column = contributions[:, k]
            strongest = numpy.argpartition(-column, min(12, len(column) - 1))[:12] if len(column) else []
            strongest = sorted(strongest, key=lambda i: -column[i])
            evidence = [self._names[rows[i]] for i in strongest if column[i] > 0]
            ranked.append(Ranked(self.classes[k], round(float(confidence[k]), 3),
                                 self._reasons(evidence, matched)))
        return ranked

    def _reasons(self, evidence: list[str], matched: dict[str, set[str]], limit: int = 3) -> list[str]:
        """The strongest evidence a dispatcher can read: whole words over the characters inside them."""
        chosen: list[str] = []
        for name in evidence:
            kind, _, value = name.partition(":")
            if kind == "t":
                if len(value) < 2 or not value.isalnum() or any(value in c for c in chosen):
                    continue
                chosen = [c for c in chosen if c not in value]
                chosen.append(value)
            elif kind == "w":
                words = sorted(matched.get(value, ()), key=len, reverse=True)
                chosen.append(f"{value}类用词（{'、'.join(words[:3])}）")
            else:
                chosen.append(_explain(name))
            if len(chosen) >= limit:
                break
        return [c if "（" in c or "「" in c else f"「{c}」" for c in chosen]

    # -- storage ------------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {"classes": self.classes, "weights": self.weights, "bias": self.bias,
                "idf": self.featurizer.idf, "lexicon": self.featurizer.lexicon, "use_category": self.use_category}

    @classmethod
    def from_json(cls, data: dict) -> Model:
        return cls(data["classes"], data["weights"], data["bias"],
                   Featurizer(lexicon=data["lexicon"], idf=data["idf"]), data.get("use_category", True))


# -- evaluation --------------------------------------------------------------------------------------

def accuracy_at(model: Model, examples: list[Example]) -> tuple[float, float]:
    hits1 = hits3 = 0
    for e in examples:
        ranked = [r.label for r in model.rank(e, top=3)]
        hits1 += bool(ranked) and ranked[0] == e.label
        hits3 += e.label in ranked
    return hits1 / len(examples), hits3 / len(examples)


def folds(examples: list[Example], k: int, seed: int = 12345) -> list[list[int]]:
    """Stratified folds: each label spread evenly over the k folds, in a fixed shuffled order."""
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_label.setdefault(e.label, []).append(i)
    rng = random.Random(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    position = 0
    for label in sorted(by_label):
        ids = by_label[label]
        rng.shuffle(ids)
        for i in ids:
            out[position % k].append(i)
            position += 1
    return out


def cross_validate(examples: list[Example], lexicon: dict[str, list[str]], *, k: int = 5,
                   use_category: bool = True, min_df: int = 1) -> dict:
    """Accuracy@1 and @3 on held-out folds (each example predicted by a model that never saw it)."""
    k = max(2, min(k, len(examples)))
    hits1 = hits3 = 0
    for held in folds(examples, k):
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        if len({e.label for e in train}) < 1 or not held:
            continue
        model = Model.fit(train, lexicon, use_category=use_category, min_df=min_df)
        a1, a3 = accuracy_at(model, [examples[i] for i in held])
        hits1 += a1 * len(held)
        hits3 += a3 * len(held)
    return {"accuracy_at_1": round(hits1 / len(examples), 4), "accuracy_at_3": round(hits3 / len(examples), 4),
            "folds": k, "examples": len(examples),
            "measured_at": clock.now().isoformat()}


def read_labelled_csv(path: str | Path) -> list[Example]:
    """A labelled file with the benchmark's columns (``id,user,subject,time,detail,category``)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"subject", "detail", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"CSV 缺少列：{', '.join(sorted(missing))}")
        return [Example(subject=r["subject"] or "", content=r["detail"] or "", label=r["category"].strip())
                for r in reader if (r.get("category") or "").strip()]


# -- learning from history, storage and use ------------------------------------------------------------

TARGETS = ("department", "category")
MAX_HISTORY = 20000  # the most recent finished orders a model learns from
MIN_EXAMPLES = 10


async def history(target: str) -> list[Example]:
    """Finished orders as examples: the department that finally handled each (after any upheld
    return moved it away from a wrong one), or the category the centre filed it under."""
    from core.tables import Order

    query = Order.select(Order.subject, Order.content, Order.channel, Order.kind, Order.category, Order.area,
                         Order.department)
    if target == "department":
        query = query.where(Order.status.is_in(["completed", "archived"]) & Order.department.is_not_null())
    else:
        query = query.where(Order.category != "")
    rows = await query.order_by(Order.id, ascending=False).limit(MAX_HISTORY)
    label = "department" if target == "department" else "category"
    return [Example(subject=r["subject"], content=r["content"], channel=r["channel"], kind=r["kind"],
                    category=r["category"] if target == "department" else "", area=r["area"],
                    label=(r[label] or "").split("/")[0]) for r in rows]


def benchmark_examples() -> list[Example]:
    """The public labelled messages (first-level categories), a head start for category suggestions."""
    return read_labelled_csv(DATA_DIR / "labelled-messages.csv")


async def current_lexicon() -> dict[str, list[str]]:
    """The category words from the centre's own tree (as edited), or the reference tree."""
    from core.tables import Category

    rows = await Category.select(Category.id, Category.parent_id, Category.name).where(Category.active == True)  # noqa: E712
    if not rows:
        return load_lexicon()
    children: dict[int | None, list[dict]] = {}
    for r in rows:
        children.setdefault(r["parent_id"], []).append(r)
    tree = []
    for top in children.get(None, []):
        names, stack = [], [top["id"]]
        while stack:
            for child in children.get(stack.pop(), []):
                names.append(child["name"])
                stack.append(child["id"])
        tree.append((top["name"], names))
    return lexicon_from_tree(tree)


def holdout(examples: list[Example], model_factory) -> dict:
    """Accuracy on a fixed fifth of the examples (stratified) held out of training."""
    held = set(folds(examples, 5)[0])
    train = [e for i, e in enumerate(examples) if i not in held]
    test = [e for i, e in enumerate(examples) if i in held]
    a1, a3 = accuracy_at(model_factory(train), test)
    return {"accuracy_at_1": round(a1, 4), "accuracy_at_3": round(a3, 4), "method": "holdout 1/5",
            "examples": len(examples), "measured_at": clock.now().isoformat()}


def _learn(examples: list[Example], lexicon: dict[str, list[str]], use_category: bool, min_df: int) -> tuple[dict, dict]:
    factory = lambda train_set: Model.fit(train_set, lexicon, use_category=use_category, min_df=min_df)  # noqa: E731
    evaluation = holdout(examples, factory)  # a fixed fifth never seen in training
    return factory(examples).to_json(), evaluation


def _child_main() -> None:
    """The child's side: the examples in on stdin, the model and its evaluation out on stdout, and
    the child's peak memory (kB) as the last element, for the record."""
    import pickle
    import resource
    import sys

    examples, lexicon, use_category, min_df = pickle.load(sys.stdin.buffer)
    weights, evaluation = _learn(examples, lexicon, use_category, min_df)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.buffer.write(pickle.dumps((weights, evaluation, peak), protocol=pickle.HIGHEST_PROTOCOL))


async def _in_child(examples, lexicon, use_category: bool, min_df: int) -> tuple[Model, dict]:
    """Train in a short-lived child process: seconds of CPU off the event loop, and the few hundred
    megabytes the fit needs at its peak go back to the system when the child ends (in the serving
    process they stayed: 169 MB grew to about 840 MB for good). A plain ``python -c`` child, not
    multiprocessing: it never re-imports whatever script started the server."""
    import asyncio
    import logging
    import pickle
    import sys

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from core.suggestions import _child_main; _child_main()",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[1]))
    out, err = await child.communicate(pickle.dumps((examples, lexicon, use_category, min_df)))
    if child.returncode != 0:
        raise RuntimeError(f"训练进程失败：{err.decode(errors='replace')[-2000:]}")
    weights, evaluation, peak = pickle.loads(out)
    logging.getLogger(__name__).info("dispatch model trained on %s examples; child peak RSS %.0f MiB",
                                     len(examples), peak / 1024)
    evaluation = {**evaluation, "peak_rss_mib": round(peak / 1024)}
    return Model.from_json(weights), evaluation


async def train(target: str, *, keep: int = 3) -> dict:
    """Learn a new version from history (in a child process), measure it, store it and make it the
    active one; in the same transaction, delete all but the newest ``keep`` versions (``HUYING_DISPATCH_MODELS_KEPT``: a
    version is megabytes of weights, and 64 daily trainings once filled 390 MB of a 459 MB database)."""
    from core.tables import DispatchModel

    examples = await history(target)
    if target == "category":
        examples += benchmark_examples()
    if len(examples) < MIN_EXAMPLES or len({e.label for e in examples}) < 2:
        return {"target": target, "trained": False, "examples": len(examples),
                "message": f"历史样本不足（{len(examples)} 条），至少需要 {MIN_EXAMPLES} 条、两个以上类别"}
    lexicon = await current_lexicon()
    use_category = target == "department"
    min_df = 2 if len(examples) > 2000 else 1

    model, evaluation = await _in_child(examples, lexicon, use_category, min_df)
    last = await DispatchModel.select(DispatchModel.number).where(DispatchModel.target == target).order_by(
        DispatchModel.number, ascending=False).first()
    number = (last["number"] if last else 0) + 1
    async with DispatchModel._meta.db.transaction():
        await DispatchModel.update({DispatchModel.active: False}).where(DispatchModel.target == target)
        await DispatchModel.insert(DispatchModel(target=target, number=number, samples=len(examples),
                                                 evaluation=evaluation, weights=model.to_json(), active=True))
        await DispatchModel.delete().where((DispatchModel.target == target)
                                           & (DispatchModel.number <= number - max(1, keep)))
    return {"target": target, "trained": True, "version": number, "examples": len(examples), **evaluation}


class Learned:
    """The active models, reloaded when a newer version is trained (checked at most every ``ttl``)."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self.models: dict[str, tuple[int, Model]] = {}
        self._checked = -1e9

    async def refresh(self, force: bool = False) -> None:
        import asyncio
        import json
        import time

        from core.tables import DispatchModel

        if not force and time.monotonic() - self._checked < self.ttl:
            return
        self._checked = time.monotonic()
        active = await DispatchModel.select(DispatchModel.id, DispatchModel.target, DispatchModel.number).where(
            DispatchModel.active == True)  # noqa: E712
        for row in active:
            held = self.models.get(row["target"])
            if held is None or held[0] != row["id"]:
                stored = await DispatchModel.select(DispatchModel.weights).where(DispatchModel.id == row["id"]).first()
                model = await asyncio.to_thread(lambda text=stored["weights"]: Model.from_json(
                    json.loads(text) if isinstance(text, str) else text))  # megabytes: off the event loop
                self.models[row["target"]] = (row["id"], model)
        for target in set(self.models) - {r["target"] for r in active}:
            del self.models[target]

    def rank(self, target: str, top: int = 3, **order) -> list[Ranked]:
        held = self.models.get(target)
        return held[1].rank(Example(**order), top=top) if held else []

    def best(self, **order) -> Ranked | None:
        ranked = self.rank("department", top=1, **order)
        return ranked[0] if ranked else None
