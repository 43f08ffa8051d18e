"""Workflow chain specs: YAML files in `chains/`, parsed and validated with the file, line and
field of every mistake (plain Python, no Dagster).

A chain selects documents, then runs ordered steps over them; each step may use the outputs of
the steps before it in its templates (`{{ summary.summary }}`, `{{ fields.total }}`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..yamlspec import Checker as _Checker
from ..yamlspec import SpecError as ChainSpecError
from ..yamlspec import load_yaml as _load_yaml

ENGINE_VERSION = "chains-v1"  # part of every step version: a change of step semantics re-runs them
GENERATED_PREFIX = "generated/"  # where generated documents land, relative to the landing zone

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VARIABLE = re.compile(r"{{\s*([^{}]*?)\s*}}")
DOCUMENT_FIELDS = (
    "doc_id",
    "title",
    "source_path",
    "format",
    "language",
    "word_count",
    "author",
    "topic",
    "predicted_topic",
    "text",
    "content_hash",
    "created_at",
)
CHAIN_FIELDS = ("chain", "count", "date", "items")
FIELD_TYPES = ("string", "number", "date", "boolean", "list")
ENTITY_TYPES = ("money", "date", "email", "organisation", "person")
CHANNELS = ("outbox", "email", "webhook", "slack")

# Per step kind: allowed keys (beyond name/uses), required keys, and the fields of its output.
STEP_KINDS: dict[str, dict[str, Any]] = {
    "summarize": {"keys": {"max_sentences"}, "required": set(), "outputs": ("summary",)},
    "classify": {"keys": {"labels"}, "required": {"labels"}, "outputs": ("label", "confidence")},
    "extract": {"keys": {"fields"}, "required": {"fields"}, "outputs": None},  # outputs: the declared fields
    "generate": {
        "keys": {"template", "title", "per", "item_template"},
        "required": {"template", "title"},
        "outputs": ("title", "text", "path"),
    },
    "notify": {
        "keys": {"channels", "subject", "template", "per", "item_template", "to"},
        "required": {"template", "subject"},
        "outputs": ("delivered", "failed"),
    },
    # A certificate NFT per selected document, once it is anchored (dwc_pipelines.anchoring).
    "certify": {"keys": {"network", "recipient"}, "required": set(), "outputs": ("token_id", "network", "tx_hash")},
}
TOP_KEYS = {"name", "description", "select", "steps", "trigger", "owners"}
SELECT_KEYS = {"where", "topic", "predicted_topic", "from_chain", "limit"}
TRIGGER_KEYS = {"new_documents", "cron", "upstream"}


@dataclass
class Step:
    name: str
    uses: str
    options: dict
    version: str = ""
    per: str = "document"  # document | chain

    @property
    def outputs(self) -> tuple[str, ...]:
        declared = STEP_KINDS[self.uses]["outputs"]
        return tuple(self.options["fields"]) if declared is None else declared


@dataclass
class Chain:
    name: str
    file: str
    description: str
    select: dict
    steps: list[Step]
    trigger: dict
    owners: list[str] = field(default_factory=list)
    select_version: str = ""
    lines: dict = field(default_factory=dict, repr=False)

    @property
    def generated_prefix(self) -> str:
        return f"{GENERATED_PREFIX}{self.name}/"


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def template_variables(template: str) -> list[str]:
    return VARIABLE.findall(template)


def render(template: str, variables: dict) -> str:
    """`{{ name }}` and `{{ step.field }}` substituted; lists joined with commas, None as empty."""

    def value(m: re.Match) -> str:
        path = m.group(1).split(".")
        v: Any = variables
        for part in path:
            v = v.get(part) if isinstance(v, dict) else None
        if v is None:
            return ""
        if isinstance(v, list):
            return ", ".join(str(x) for x in v)
        if isinstance(v, float):
            return f"{v:.15g}"
        return str(v)

    return VARIABLE.sub(value, template)


def _check_sql(ck: _Checker, predicate: str, path: tuple) -> None:
    """Bind the predicate against an empty table with the documents' columns: a typo in a column
    name or the syntax fails here, at load, not in a run."""
    import duckdb

    from ..ingestion.schema import DOC_COLUMNS

    con = duckdb.connect()
    try:
        con.execute(f"""CREATE TABLE d ({DOC_COLUMNS.format(nn="")}, version INTEGER, status VARCHAR, is_current BOOLEAN,
                        duplicate_of VARCHAR, ingested_at TIMESTAMP, run_id VARCHAR, topic VARCHAR,
                        predicted_topic VARCHAR)""")
        if ";" in predicate:
            ck.fail(path, "one SQL predicate, without ';'")
        con.execute(f"SELECT count(*) FROM d WHERE ({predicate})").fetchall()
    except duckdb.Error as exc:
        ck.fail(path, f"invalid SQL predicate: {str(exc).splitlines()[0]}")
    finally:
        con.close()


def _check_template(ck: _Checker, template, path: tuple, scope: dict[str, tuple[str, ...] | None]) -> None:
    ck.kind(template, path, str, "a template string")
    for var in template_variables(template):
        parts = var.split(".")
        head = parts[0]
        if head not in scope:
            ck.fail(path, f"unknown template variable '{{{{ {var} }}}}'; known: {', '.join(sorted(scope))}")
        allowed = scope[head]
        if len(parts) > 2 or (len(parts) == 2 and (allowed is None or parts[1] not in allowed)):
            known = ", ".join(f"{head}.{f}" for f in allowed or ())
            ck.fail(path, f"unknown template variable '{{{{ {var} }}}}'" + (f"; {head} has: {known}" if known else ""))


def parse_chain(text: str, file: str) -> Chain:
    """A validated chain, or ChainSpecError naming the file, line and field."""
    raw, lines = _load_yaml(text, file)
    ck = _Checker(file, lines)
    spec = ck.mapping(raw if raw is not None else {}, (), TOP_KEYS, {"steps", "select"})
    name = spec.get("name", Path(file).stem)
    if not isinstance(name, str) or not NAME.match(name):
        ck.fail(("name",), f"'{name}' is not a chain name (lower case letters, digits, _; starts with a letter)")
    description = ck.kind(spec.get("description", ""), ("description",), str, "text")
    owners = ck.kind(spec.get("owners", []), ("owners",), list, "a list of owners")

    select = ck.mapping(spec["select"], ("select",), SELECT_KEYS)
    if "where" in select:
        _check_sql(ck, ck.kind(select["where"], ("select", "where"), str, "an SQL predicate"), ("select", "where"))
    for key in ("topic", "predicted_topic"):
        if key in select:
            topics = select[key] if isinstance(select[key], list) else [select[key]]
            if not topics or not all(isinstance(t, str) and t for t in topics):
                ck.fail(("select", key), "must be a topic or a list of topics")
            select[key] = topics
    if "from_chain" in select:
        src = select["from_chain"]
        if not isinstance(src, str) or not NAME.match(src):
            ck.fail(("select", "from_chain"), "must name a chain")
    if "limit" in select and (not isinstance(select["limit"], int) or select["limit"] < 1):
        ck.fail(("select", "limit"), "must be a positive integer")

    trigger = ck.mapping(spec.get("trigger") or {}, ("trigger",), TRIGGER_KEYS)
    if "cron" in trigger:
        from dagster._utils.schedules import is_valid_cron_string

        if not isinstance(trigger["cron"], str) or not is_valid_cron_string(trigger["cron"]):
            ck.fail(("trigger", "cron"), f"'{trigger['cron']}' is not a cron expression")
    for flag in ("new_documents", "upstream"):
        if flag in trigger:
            ck.kind(trigger[flag], ("trigger", flag), bool, "true or false")

    steps_raw = ck.kind(spec["steps"], ("steps",), list, "a list of steps")
    if not steps_raw:
        ck.fail(("steps",), "a chain needs at least one step")
    select_version = _digest(ENGINE_VERSION, select)
    doc_scope: dict[str, tuple[str, ...] | None] = {f: None for f in DOCUMENT_FIELDS}
    chain_scope: dict[str, tuple[str, ...] | None] = {f: None for f in CHAIN_FIELDS}
    steps: list[Step] = []
    previous = select_version
    for i, raw_step in enumerate(steps_raw):
        path = ("steps", i)
        ck.mapping(
            raw_step, path, {"name", "uses"} | set().union(*(k["keys"] for k in STEP_KINDS.values())), {"name", "uses"}
        )
        sname, uses = raw_step["name"], raw_step["uses"]
        if not isinstance(sname, str) or not NAME.match(sname) or sname == "select":
            ck.fail(path + ("name",), f"'{sname}' is not a step name (lower case, digits, _; not 'select')")
        if any(s.name == sname for s in steps):
            ck.fail(path + ("name",), f"step '{sname}' is declared twice")
        if uses not in STEP_KINDS:
            ck.fail(path + ("uses",), f"unknown step '{uses}'; known: {', '.join(STEP_KINDS)}")
        kind = STEP_KINDS[uses]
        options = {k: v for k, v in raw_step.items() if k not in ("name", "uses")}
        ck.mapping(options, path, kind["keys"], kind["required"])
        per = options.pop("per", "document")
        if per not in ("document", "chain"):
            ck.fail(path + ("per",), "must be 'document' or 'chain'")
        step = Step(sname, uses, options, per=per)
        _check_step(ck, step, path, doc_scope, chain_scope)
        if uses == "certify":
            _check_certify(ck, step, path)
        step.version = _digest(previous, uses, per, options)
        previous = step.version
        # A chain-wide template cannot name one document's output, nor a document's a chain-wide one.
        (doc_scope if per == "document" else chain_scope)[sname] = step.outputs
        steps.append(step)
    return Chain(name, file, description, select, steps, trigger, owners, select_version, lines)


def _check_step(ck: _Checker, step: Step, path: tuple, doc_scope: dict, chain_scope: dict) -> None:
    o = step.options
    if step.uses == "summarize" and "max_sentences" in o:
        if not isinstance(o["max_sentences"], int) or not 1 <= o["max_sentences"] <= 20:
            ck.fail(path + ("max_sentences",), "must be an integer from 1 to 20")
    if step.uses == "classify":
        labels = o["labels"]
        if isinstance(labels, list):
            labels = {str(label): [] for label in labels}
        ck.kind(labels, path + ("labels",), dict, "a list of labels or a mapping of label to cue words")
        if len(labels) < 2:
            ck.fail(path + ("labels",), "needs at least two labels")
        for label, cues in labels.items():
            if not isinstance(cues, list) or not all(isinstance(c, str) for c in cues):
                ck.fail(path + ("labels", label), "cue words must be a list of strings")
        o["labels"] = {k: [c.lower() for c in v] for k, v in labels.items()}
    if step.uses == "extract":
        fields = ck.kind(o["fields"], path + ("fields",), dict, "a mapping of field name to its type")
        if not fields:
            ck.fail(path + ("fields",), "declare at least one field")
        for fname, fspec in fields.items():
            fpath = path + ("fields", fname)
            if not NAME.match(str(fname)):
                ck.fail(fpath, f"'{fname}' is not a field name")
            if isinstance(fspec, str):
                fspec = fields[fname] = {"type": fspec}
            ck.mapping(fspec, fpath, {"type", "label", "pattern", "entity", "description"})
            if fspec.get("type", "string") not in FIELD_TYPES:
                ck.fail(fpath + ("type",), f"unknown type '{fspec.get('type')}'; known: {', '.join(FIELD_TYPES)}")
            if "entity" in fspec and fspec["entity"] not in ENTITY_TYPES:
                ck.fail(fpath + ("entity",), f"unknown entity '{fspec['entity']}'; known: {', '.join(ENTITY_TYPES)}")
            if "pattern" in fspec:
                try:
                    re.compile(fspec["pattern"])
                except (re.error, TypeError) as exc:
                    ck.fail(fpath + ("pattern",), f"invalid regular expression: {exc}")
    if step.uses in ("generate", "notify"):
        if step.per == "chain":
            if "items" in template_variables(o["template"]) and "item_template" not in o:
                ck.fail(path + ("item_template",), "a chain-wide template using {{ items }} needs an item_template")
            if "item_template" in o:
                _check_template(ck, o["item_template"], path + ("item_template",), doc_scope)
            scope = chain_scope
        else:
            if "item_template" in o:
                ck.fail(path + ("item_template",), "item_template only applies with per: chain")
            scope = doc_scope
        for key in ("template", "title", "subject"):
            if key in o:
                _check_template(ck, o[key], path + (key,), scope)
    if step.uses == "notify":
        channels = o.setdefault("channels", ["outbox"])
        if not isinstance(channels, list) or not channels:
            ck.fail(path + ("channels",), "must be a list of channels")
        for j, c in enumerate(channels):
            if c not in CHANNELS:
                ck.fail(path + ("channels", j), f"unknown channel '{c}'; known: {', '.join(CHANNELS)}")
        if "to" in o and (not isinstance(o["to"], list) or not all(isinstance(t, str) and "@" in t for t in o["to"])):
            ck.fail(path + ("to",), "must be a list of e-mail addresses")


def _check_certify(ck: _Checker, step: Step, path: tuple) -> None:
    o = step.options
    if step.per != "document":
        ck.fail(path + ("per",), "a certificate is per document")
    if "network" in o and not (isinstance(o["network"], str) and NAME.match(o["network"])):
        ck.fail(path + ("network",), "must name a configured chain (DWC_CHAINS)")
    if "recipient" in o and not (
        isinstance(o["recipient"], str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", o["recipient"])
    ):
        ck.fail(path + ("recipient",), "must be an address (0x and 40 hex digits)")


def load_chains(*directories: str | Path) -> tuple[list[Chain], list[ChainSpecError]]:
    """Every valid chain in the directories, and the errors of the others: one bad spec never stops
    the rest. Chains feeding chains (select.from_chain) must name a chain that exists and form no loop."""
    chains: list[Chain] = []
    errors: list[ChainSpecError] = []
    paths = [p for d in map(Path, directories) if d.is_dir() for p in sorted(d.glob("*.y*ml"))]
    for path in paths:
        file = str(path)
        try:
            chain = parse_chain(path.read_text(encoding="utf-8"), file)
        except ChainSpecError as exc:
            errors.append(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ChainSpecError(file, None, "file", str(exc)))
            continue
        if any(c.name == chain.name for c in chains):
            errors.append(
                ChainSpecError(file, chain.lines.get(("name",)), "name", f"chain '{chain.name}' is already declared")
            )
            continue
        chains.append(chain)
    return _check_sources(chains, errors)


def _check_sources(chains: list[Chain], errors: list[ChainSpecError]) -> tuple[list[Chain], list[ChainSpecError]]:
    by_name = {c.name: c for c in chains}
    bad: dict[str, ChainSpecError] = {}
    for c in chains:
        src = c.select.get("from_chain")
        line = c.lines.get(("select", "from_chain"))
        if src is None:
            continue
        if src not in by_name:
            bad[c.name] = ChainSpecError(c.file, line, "select.from_chain", f"no chain named '{src}'")
            continue
        if not any(s.uses == "generate" for s in by_name[src].steps):
            bad[c.name] = ChainSpecError(c.file, line, "select.from_chain", f"chain '{src}' generates no documents")
            continue
        seen, cur = [c.name], src
        while cur is not None and cur in by_name:
            if cur in seen:
                loop = " -> ".join(seen[seen.index(cur) :] + [cur])
                bad[c.name] = ChainSpecError(
                    c.file, line, "select.from_chain", f"chains feed each other in a loop: {loop}"
                )
                break
            seen.append(cur)
            cur = by_name[cur].select.get("from_chain")
    # A chain whose source is invalid cannot run either.
    changed = True
    while changed:
        changed = False
        for c in chains:
            src = c.select.get("from_chain")
            if c.name not in bad and src in bad:
                bad[c.name] = ChainSpecError(
                    c.file,
                    c.lines.get(("select", "from_chain")),
                    "select.from_chain",
                    f"its source chain '{src}' is invalid",
                )
                changed = True
    return [c for c in chains if c.name not in bad], errors + list(bad.values())
