"""The team config file ``aispend.yaml`` (README: Configure): schema, loader and readable errors.

Unknown keys are errors, because a typo (``alert_at_percnt``) must not silently disable an alert.
Numbers are read as ``Decimal`` straight from the YAML text, so a budget of ``2000.10`` is exact.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import time as time_of_day
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aispend.alerts.rules import AlertSettings
from aispend.spend.attribution import double_claims
from aispend.spend.model import Directory, TeamProject

_USER_RE = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; ``problems`` lists each one by path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_user(value: str) -> str:
    if not _USER_RE.match(value):
        raise ValueError(f"must be a Slack user ID (U…/W…) or user group ID (S…), got {value!r}")
    return value


def _check_channel(value: str) -> str:
    if not _CHANNEL_RE.match(value):
        raise ValueError(f"must be a Slack channel ID such as C0123ABC, got {value!r}")
    return value


class DigestConfig(_Strict):
    channel: str
    weekday: str = "mon"
    time: str = "09:00"

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return _check_channel(value)

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        day = value.lower()[:3]
        if day not in _WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(_WEEKDAYS)}, got {value!r}")
        return day

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not re.match(r"^\d{1,2}:\d{2}$", value):
            raise ValueError(f"must be HH:MM, got {value!r}")
        hour, minute = (int(part) for part in value.split(":"))
        if hour > 23 or minute > 59:
            raise ValueError(f"must be a time of day between 00:00 and 23:59, got {value!r}")
        return f"{hour:02d}:{minute:02d}"

    @property
    def at(self) -> time_of_day:
        hour, minute = (int(part) for part in self.time.split(":"))
        return time_of_day(hour, minute)


class OpenRouterConfig(_Strict):
    low_credit_usd: Decimal = Field(default=Decimal(50), ge=0)
    low_runway_days: Decimal = Field(default=Decimal(7), ge=0)


class AlertsConfig(_Strict):
    """Optional ``alerts:`` section (README "Alerts"): tuning of the spend-spike rule."""

    spike_factor: Decimal = Field(default=Decimal(3), gt=1, le=1000)
    spike_min_usd: Decimal = Field(default=Decimal(10), ge=0)


class ProjectConfig(_Strict):
    name: str = Field(min_length=1, max_length=80)
    owner: str | None = None
    channel: str | None = None
    monthly_budget_usd: Decimal | None = None
    alert_at_percent: tuple[Decimal, ...] = (Decimal(80), Decimal(100))
    visibility: Literal["public", "owner"] = "public"
    openai_projects: tuple[str, ...] = ()
    openai_api_keys: tuple[str, ...] = ()
    openrouter_keys: tuple[str, ...] = ()

    def team_project(self) -> TeamProject:
        """The validated project as the plain record the spend domain works on."""
        return TeamProject(
            name=self.name,
            owner=self.owner,
            channel=self.channel,
            monthly_budget_usd=self.monthly_budget_usd,
            alert_at_percent=self.alert_at_percent,
            visibility=self.visibility,
            openai_projects=self.openai_projects,
            openai_api_keys=self.openai_api_keys,
            openrouter_keys=self.openrouter_keys,
        )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[\w][\w.\-]*$", value):
            raise ValueError(
                f"must be one word of letters, digits, '-', '_' or '.', got {value!r} "
                "(it is typed in /aispend project <name>)"
            )
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return None if value is None else _check_user(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else _check_channel(value)

    @field_validator("monthly_budget_usd")
    @classmethod
    def _budget(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("alert_at_percent")
    @classmethod
    def _percents(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if not value:
            raise ValueError("must list at least one percentage, e.g. [80, 100]")
        for pct in value:
            if pct <= 0 or pct > 1000:
                raise ValueError(f"each percentage must be > 0 and <= 1000, got {pct}")
        if len(set(value)) != len(value):
            raise ValueError("percentages must not repeat")
        return tuple(sorted(value))

    @field_validator("openai_projects", "openai_api_keys", "openrouter_keys")
    @classmethod
    def _refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            if not ref.strip():
                raise ValueError("entries must not be empty")
        return tuple(ref.strip() for ref in value)


class Config(_Strict):
    timezone: str = "UTC"
    alert_channel: str | None = None
    poll_interval_minutes: int = Field(default=15, ge=1, le=1440)
    backfill_days: int = Field(default=60, ge=1, le=365)
    # Snapshots and poll runs older than this are pruned by the poll job (README "Retention");
    # daily spend rows are kept forever. A week at least: the credit runway reads 48 hours of
    # snapshots, and the health view wants the recent history of every endpoint.
    retention_days: int = Field(default=90, ge=7, le=3650)
    digest: DigestConfig | None = None
    openrouter: OpenRouterConfig = OpenRouterConfig()
    alerts: AlertsConfig = AlertsConfig()
    projects: tuple[ProjectConfig, ...] = ()
    admins: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from exc
        return value

    @field_validator("alert_channel")
    @classmethod
    def _alert_channel(cls, value: str | None) -> str | None:
        return None if value is None else _check_channel(value)

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for user in value:
            _check_user(user)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def project(self, name: str) -> ProjectConfig | None:
        wanted = name.strip().lower()
        for project in self.projects:
            if project.name.lower() == wanted:
                return project
        return None

    def team_projects(self) -> tuple[TeamProject, ...]:
        """Every project as the spend domain's plain record, in config order."""
        return tuple(project.team_project() for project in self.projects)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def alert_settings(self) -> AlertSettings:
        """The thresholds of the alert rules (``openrouter:`` and ``alerts:``)."""
        return AlertSettings(
            low_credit_usd=self.openrouter.low_credit_usd,
            low_runway_days=self.openrouter.low_runway_days,
            spike_factor=self.alerts.spike_factor,
            spike_min_usd=self.alerts.spike_min_usd,
            poll_interval=timedelta(minutes=self.poll_interval_minutes),
        )


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader that builds ``Decimal`` instead of ``float`` (budgets stay exact) and refuses
    duplicate keys at any depth.

    YAML says keys are unique, but PyYAML keeps the last of two equal keys silently: a second
    ``visibility: public`` would turn an ``owner`` project public, and a second ``projects:`` would
    drop the first list. PyYAML has no option for this, so ``construct_mapping`` is extended here
    (the usual recipe); every duplicate is collected with its line so one run reports them all.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults`` may be overridden by explicit keys, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # PyYAML reports unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.duplicates.append(
                    (
                        line,
                        f"line {line}: duplicate key {str(key)[:60]!r} (first at line {first_line[key]}); "
                        "each key may appear once in a mapping",
                    )
                )
            else:
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"not a number: {text!r}", node.start_mark
        ) from exc
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"not a finite number: {text!r}", node.start_mark)
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class _Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; the Configure section of README.md lists every key)"
        elif error["type"] == "missing":
            message = "is required"
        problems.append(str(_Problem(_path(loc), message)))
    return problems


def _cross_problems(data: dict[str, Any]) -> list[str]:
    """Checks across projects (unique names, no matcher claimed twice), run on the raw data so
    they are reported even when other fields fail validation."""
    problems: list[str] = []
    projects = data.get("projects")
    if not isinstance(projects, list):
        return problems
    seen_names: dict[str, int] = {}
    claimed: dict[tuple[str, str], str] = {}
    for index, project in enumerate(projects):
        if not isinstance(project, dict):
            continue
        name = str(project.get("name", "")).strip()
        key = name.lower()
        if key and key in seen_names:
            problems.append(
                f"projects[{index}].name: {name!r} repeats projects[{seen_names[key]}].name "
                "(names are case-insensitive)"
            )
        seen_names.setdefault(key, index)
        for field in ("openai_projects", "openai_api_keys", "openrouter_keys"):
            refs = project.get(field)
            if not isinstance(refs, list):
                continue
            for pos, ref in enumerate(refs):
                ref_text = str(ref).strip()
                owner = claimed.get((field, ref_text))
                if owner is not None and owner != name:
                    where = f"projects[{index}].{field}[{pos}]"
                    problems.append(f"{where}: {ref_text!r} is already claimed by project {owner!r}")
                claimed.setdefault((field, ref_text), name)
    return problems


_CLAIM_LABELS = {
    "openai_api_keys": "OpenAI API key",
    "openai_projects": "OpenAI project",
    "openrouter_keys": "OpenRouter key",
}


def double_claim_problems(config: Config, directory: Directory) -> list[str]:
    """Entries of two projects that name the same provider id, once names are resolved to ids
    (``spend.attribution.double_claims``): an id in one project and its name in another passes the
    literal check in :func:`parse_config`, yet all of the id's spend would go to one project."""
    problems: list[str] = []
    for claim in double_claims(config.team_projects(), directory):
        first, later = claim.first, claim.second
        named = f", named {claim.name!r}" if claim.name is not None else ""
        problems.append(
            f"projects[{later.project_index}].{claim.field}[{later.position}]: {later.entry!r} is the same "
            f"{_CLAIM_LABELS[claim.field]} ({claim.ident}{named}) as {first.entry!r} in "
            f"projects[{first.project_index}].{claim.field}[{first.position}] (project {first.project!r}); "
            f"all its spend would go to {claim.winner!r}: claim it in one project only"
        )
    return problems


def parse_config(data: Any, *, source: str = "config") -> Config:
    """Validate already-loaded YAML data; every problem is reported with its path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys to values"])
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc))
    problems.extend(_cross_problems(data))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate ``aispend.yaml``; raise :class:`ConfigError` listing every problem."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{file}: config file not found (set AISPEND_CONFIG or create it)"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a directory, not a config file (set AISPEND_CONFIG)"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from None
    return parse_config(_load_yaml(_decode(raw, file), file), source=str(file))


def _decode(raw: bytes, file: Path) -> str:
    """The file's text; anything but UTF-8 (with or without a byte-order mark) is refused with the
    position of the first bad byte, because guessing an encoding could misread a name."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                f"{file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}, column {column}); "
                "save the file as UTF-8"
            ]
        ) from None


def _load_yaml(text: str, file: Path) -> Any:
    loader = _DecimalLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{file}: not valid YAML{where}: {problem}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([f"{file} {duplicate}" for _, duplicate in sorted(loader.duplicates)])
    return data
