"""Can data valid under one JSON Schema be read by another? The structural half: references,
``true``/``false``, combinators and recursion. Keyword by keyword rules are in
``_json_keywords.py``.

A schema is read as a conjunction (its own keywords, its ``allOf`` branches, its choices),
and the reader's parts are checked one by one against the whole writer. Combinators follow
Confluent's JSON Schema checker:

* a reader ``anyOf``/``oneOf`` accepts a writer that one of its branches accepts (sum type
  extended); with a writer choice too, every writer branch needs a reader branch of its own
  (a maximum bipartite matching, as Confluent does), so removing a branch is incompatible;
* a writer ``allOf`` is readable when one of its branches alone is (product type narrowed);
  a reader ``allOf`` needs every branch satisfied, so adding a branch is incompatible;
* ``oneOf`` may widen to ``anyOf``; any other change of combinator is incompatible.

Recursive schemas are compared co-inductively: a pair met again while it is being compared
is assumed compatible, and, as in Confluent, the comparison is repeated with the pairs found
incompatible fed back until nothing changes, so that an assumption never hides a problem.
Results are memoised per pair, which keeps wide recursive unions from exploding.
"""

from __future__ import annotations

from streamplane.registry.compat._json_keywords import keyword_problems
from streamplane.registry.compat._json_merge import merge_conjuncts, unconditional_parts
from streamplane.registry.compat._json_nodes import Located, Problem, Shape, at

#: Pair comparisons allowed for one check; hostile schemas (wide combinators nested deep)
#: could otherwise keep the registry busy for a very long time.
MAX_STEPS = 100_000
#: Nested pair comparisons (through properties, items, $ref...) allowed; each costs about
#: five stack frames, and this keeps well inside Python's default limit of 1000.
MAX_NESTING = 100

_Key = tuple[int, int, bool]

#: Stands for "incompatible, as explained where this recursive pair was first compared";
#: it makes the enclosing schemas incompatible too, and is dropped from the messages.
RECURSIVE = "(recursive)"


class TooComplex(Exception):
    """The comparison would take more than MAX_STEPS steps or MAX_NESTING levels."""


class Comparison:
    """One ``can_read`` check: shares the memo and the cycle bookkeeping across all pairs."""

    def __init__(self) -> None:
        self._memo: dict[_Key, list[Problem]] = {}
        self._in_progress: set[_Key] = set()
        self._known_incompatible: set[_Key] = set()
        self._assumed = False
        self._steps = 0

    def run(self, writer: Located, reader: Located) -> list[Problem]:
        while True:
            self._memo, self._assumed = {}, False
            problems = self.compare(writer, reader)
            if not self._assumed:
                return problems
            incompatible = {key for key, found in self._memo.items() if found}
            if incompatible == self._known_incompatible:
                return problems
            self._known_incompatible = incompatible

    def compare(self, writer: Located, reader: Located, *, own_only: bool = False) -> list[Problem]:
        """Problems reading ``writer``'s data with ``reader``; with ``own_only``, with only the
        reader's own keywords (not its combinators)."""
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise TooComplex(f"the schemas need more than {MAX_STEPS} comparison steps")
        writer, reader = writer.deref(), reader.deref()
        if reader.accepts_everything or writer.is_false:
            return []
        if reader.is_false and not _holds_nothing(writer):
            return [("", "the reader's schema here is false, so it accepts no value")]
        if reader.is_false:
            return []
        key = (id(writer.contents), id(reader.contents), own_only)
        if key in self._memo:
            return self._memo[key]
        if key in self._in_progress:  # a recursive schema met itself again
            if key in self._known_incompatible:
                return [("", RECURSIVE)]  # explained where the pair was first compared
            self._assumed = True
            return []
        if len(self._in_progress) >= MAX_NESTING:
            raise TooComplex(f"the schemas nest more than {MAX_NESTING} levels deep")
        self._in_progress.add(key)
        try:
            problems = self._compare_parts(writer, reader, own_only)
        finally:
            self._in_progress.discard(key)
        self._memo[key] = problems
        return problems

    def _compare_parts(self, writer: Located, reader: Located, own_only: bool) -> list[Problem]:
        writer_shape, reader_shape = writer.shape, reader.shape
        problems: list[Problem] = []
        if reader_shape.has_own_keywords:
            problems += self._meet_own_keywords(writer, writer_shape, reader)
        if own_only:
            return problems
        for path, conjunct in reader_shape.conjuncts:
            problems += at(path, self.compare(writer, conjunct))
        for keyword, branches in reader_shape.choices:
            problems += self._meet_choice(writer, writer_shape, keyword, branches)
        return problems

    def _meet_own_keywords(self, writer: Located, shape: Shape, reader: Located) -> list[Problem]:
        """The reader's own keywords against the writer's (merged with its conjuncts'); failing
        that, against one writer conjunct alone, or against every branch of a writer choice
        (any of these suffices)."""
        direct = keyword_problems(self, merge_conjuncts(writer), reader)
        if not direct or not (shape.conjuncts or shape.choices):
            return direct
        alternatives = []
        for _, conjunct in shape.conjuncts:
            found = self.compare(conjunct, reader, own_only=True)
            if not found:
                return []
            alternatives.append(found)
        for _, branches in shape.choices:
            per_branch = [self.compare(b, reader, own_only=True) for _, b in branches]
            if not any(per_branch):
                return []
            alternatives.append([problem for found in per_branch for problem in found])
        # Keyword against keyword is the explanation people expect; a writer that is only a
        # choice is best explained by its closest alternative.
        if shape.has_own_keywords or shape.conjuncts:
            return direct
        return min(alternatives, key=len)

    def _meet_choice(
        self,
        writer: Located,
        shape: Shape,
        keyword: str,
        branches: tuple[tuple[str, Located], ...],
    ) -> list[Problem]:
        # The writer's own choices and those of the subschemas it always satisfies too: any
        # of them that maps branch for branch onto the reader's will do.
        choices = [*shape.choices]
        for part in unconditional_parts(writer) if shape.conjuncts else []:
            choices += part.shape.choices
        if not choices:
            return self._one_branch_reads(writer, keyword, branches)
        for writer_keyword, writer_branches in choices:
            if _widens(writer_keyword, keyword) and not self._unmatched(writer_branches, branches):
                return []
        if not self._one_branch_reads(writer, keyword, branches):
            return []  # the writer as a whole fits one reader branch: sound, if unusual
        # Explain with the writer choice most like the reader's.
        writer_keyword, writer_branches = next((c for c in choices if c[0] == keyword), choices[0])
        widens = _widens(writer_keyword, keyword)
        unmatched = self._unmatched(writer_branches, branches) if widens else []
        if not widens:
            return [(f"/{keyword}", f"combined type changed from {writer_keyword} to {keyword}")]
        problems: list[Problem] = []
        if len(writer_branches) > len(branches):
            problems.append(
                (
                    f"/{keyword}",
                    f"{keyword} narrowed from {len(writer_branches)} to {len(branches)} "
                    f"subschemas: data valid under a removed one cannot be read",
                )
            )
        for index in unmatched:
            problems += self._explain_unmatched(writer_branches[index], keyword, branches)
        return problems

    def _one_branch_reads(
        self, writer: Located, keyword: str, branches: tuple[tuple[str, Located], ...]
    ) -> list[Problem]:
        results = [(path, self.compare(writer, branch)) for path, branch in branches]
        if any(not found for _, found in results):
            return []
        path, closest = min(results, key=lambda result: len(result[1]))
        summary = (
            f"/{keyword}",
            f"no subschema of the reader's {keyword} accepts the writer's data; "
            f"the closest is {path[1:]}",
        )
        return [summary, *at(path, closest)]

    def _unmatched(
        self,
        writer_branches: tuple[tuple[str, Located], ...],
        reader_branches: tuple[tuple[str, Located], ...],
    ) -> list[int]:
        """Writer branches left without a compatible reader branch of their own by a maximum
        matching (Kuhn's augmenting paths; branch counts are small)."""
        fits = [
            [j for j, (_, r) in enumerate(reader_branches) if not self.compare(w, r)]
            for _, w in writer_branches
        ]
        owner: dict[int, int] = {}

        def augment(i: int, visited: set[int]) -> bool:
            for j in fits[i]:
                if j not in visited:
                    visited.add(j)
                    if j not in owner or augment(owner[j], visited):
                        owner[j] = i
                        return True
            return False

        return [i for i in range(len(writer_branches)) if not augment(i, set())]

    def _explain_unmatched(
        self,
        writer_branch: tuple[str, Located],
        keyword: str,
        reader_branches: tuple[tuple[str, Located], ...],
    ) -> list[Problem]:
        writer_path, branch = writer_branch
        results = [(path, self.compare(branch, reader)) for path, reader in reader_branches]
        index = int(writer_path.rpartition("/")[2])
        # A branch changed in place is the likeliest story; else the one with fewest problems.
        same_place = [result for result in results if result[0] == f"/{keyword}/{index}"]
        path, closest = same_place[0] if same_place else min(results, key=lambda r: len(r[1]))
        if not closest:
            text = (
                f"the writer's {writer_path[1:]} has no subschema of the reader's {keyword} "
                f"of its own: each reader subschema can stand for only one writer subschema"
            )
            return [(f"/{keyword}", text)]
        text = (
            f"no subschema of the reader's {keyword} reads the writer's {writer_path[1:]}; "
            f"the closest is {path[1:]}"
        )
        return [(f"/{keyword}", text), *at(path, closest)]


def _widens(writer_keyword: str, reader_keyword: str) -> bool:
    """Confluent's COMBINED_TYPE_EXTENDED: the same combinator, or oneOf read as anyOf."""
    return writer_keyword in (reader_keyword, "oneOf") and reader_keyword in (
        writer_keyword,
        "anyOf",
    )


def _holds_nothing(schema: Located, depth: int = 0) -> bool:
    """Whether ``schema`` obviously rejects every value: ``false``, a conjunct that does, a
    choice whose branches all do, or ``not`` of everything. In-place applicators cannot
    cycle (parsing refused such cycles), and the depth bound is only a backstop. Anything
    subtler is taken to hold something, which errs on the safe side."""
    schema = schema.deref()
    if schema.is_false:
        return True
    if depth > MAX_NESTING:
        return False
    shape = schema.shape
    if any(_holds_nothing(conjunct, depth + 1) for _, conjunct in shape.conjuncts):
        return True
    for _, branches in shape.choices:
        if all(_holds_nothing(branch, depth + 1) for _, branch in branches):
            return True
    negated = schema.keywords.get("not")
    return negated is not None and schema.child(negated).deref().accepts_everything
