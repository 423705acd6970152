"""The container packaging: Dockerfile, .dockerignore, compose.yaml, docs/deploy.md and the
wheel the image is built from.

No Docker engine is needed. compose.yaml is validated against the Compose Specification
schema that check-jsonschema vendors; every `fitboard ...` command that the Dockerfile,
compose.yaml and docs/deploy.md run is resolved in the Typer app (subcommands, nested
groups and options); the wheel is built from a copy of the sources and opened."""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import typer.main
import yaml
from typer.core import TyperGroup

from fitboard.config import Mode, Settings
from fitboard.entrypoints.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
PACKAGE = ROOT / "src" / "fitboard"
MIGRATIONS = PACKAGE / "adapters" / "sql" / "migrations"

FITBOARD_SERVICES = ("migrate", "api", "worker")
BACKING_SERVICES = ("postgres", "redis", "rabbitmq")


# ------------------------------------------------------------------------------ helpers


class UnknownCommand(AssertionError):
    pass


def resolve(args: Sequence[str]) -> list[str]:
    """The path of the `fitboard` subcommand that `args` run (e.g. ["db", "upgrade"]);
    raises if a (sub)command does not exist or an option or argument is refused.

    Typer builds its commands on a copy of Click that it ships (`typer._click`), so groups
    are recognised as `TyperGroup` and contexts made with each command's `context_class`."""
    command = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="fitboard")
    rest = list(args)
    path: list[str] = []
    while isinstance(command, TyperGroup):
        if not rest or rest[0].startswith("-"):
            raise UnknownCommand(f"`fitboard {shlex.join(args)}` names no subcommand")
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            raise UnknownCommand(f"`fitboard {' '.join([*path, name])}` does not exist")
        path.append(name)
        ctx = sub.context_class(sub, info_name=name, parent=ctx)
        command = sub
    try:
        # Parses the options and arguments exactly as the command line would.
        command.make_context(path[-1], rest, parent=ctx.parent)
    except (typer.TyperException, click.ClickException) as exc:
        raise UnknownCommand(f"`fitboard {shlex.join(args)}`: {exc.format_message()}") from exc
    return path


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not exec (JSON) form: {arguments}"
    assert all(isinstance(item, str) for item in value)
    return value


def image_command() -> tuple[list[str], list[str]]:
    stage = final_stage(dockerfile_instructions(DOCKERFILE.read_text()))
    entrypoints = [exec_form(args) for keyword, args in stage if keyword == "ENTRYPOINT"]
    cmds = [exec_form(args) for keyword, args in stage if keyword == "CMD"]
    assert entrypoints, "the image has no ENTRYPOINT"
    assert cmds, "the image has no CMD"
    return entrypoints[-1], cmds[-1]


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}; raises LookupError where Compose would refuse to start."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        unset_or_empty = not current
        if op in (":-", "-") and (unset_or_empty if op == ":-" else current is None):
            return str(arg)
        if op in (":?", "?") and (unset_or_empty if op == ":?" else current is None):
            raise LookupError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def fitboard_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the fitboard image (the ones built from this directory)."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def _argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def service_args(
    service: dict[str, Any], image_cmd: list[str]
) -> tuple[list[str] | None, list[str]]:
    """A service's (entrypoint, command); entrypoint None means the image's."""
    entrypoint = service.get("entrypoint")
    command = _argv(service.get("command", image_cmd))
    return (None if entrypoint is None else _argv(entrypoint)), command


# The places in the documentation's code blocks where fitboard itself is run: at the start
# of a line, after a path ending in bin/, or after `docker compose exec SERVICE`.
# `fitboard-admin` is deploy.md's shorthand for running it as the service user.
_DOC_INVOCATION = re.compile(
    r"(?:^\s*(?:\$\s+)?|bin/|\bexec\s+(?:-\S+\s+)*[a-z][\w-]*\s+)fitboard(?:-admin)?\s+(?P<rest>.*)$"
)
_SHELL_END = re.compile(r"\s(?:&&|\|\||[|;>]|2>|#).*$")


def documented_invocations(markdown: str) -> list[list[str]]:
    invocations: list[list[str]] = []
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M)
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            match = _DOC_INVOCATION.search(line)
            if match is None:
                continue
            rest = _SHELL_END.sub("", " " + match["rest"]).strip()
            args = shlex.split(rest)
            # `... fitboard "$@"` and the like pass arguments through: nothing to resolve.
            if args and re.fullmatch(r"[a-z][a-z-]*", args[0]):
                invocations.append(args)
    return invocations


def dockerignored(path: str, patterns: Sequence[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last match wins)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = (pattern[1:] if negated else pattern).strip("/")
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


# ---------------------------------------------------------------- the command resolver


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["serve", "--host", "0.0.0.0", "--port", "8000"], ["serve"]),
        (["worker"], ["worker"]),
        (["db", "upgrade"], ["db", "upgrade"]),
        (["reconcile", "--repair"], ["reconcile"]),
        (["dead-letters", "replay", "a", "b"], ["dead-letters", "replay"]),
    ],
)
def test_the_resolver_finds_real_commands(args: list[str], path: list[str]) -> None:
    assert resolve(args) == path


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nope"],
        ["db"],
        ["db", "downgrade"],
        ["serve", "--hots", "0.0.0.0"],
        ["serve", "--port", "eighty"],
        ["worker", "extra"],
        ["dead-letters", "list", "--limit", "0"],
    ],
)
def test_the_resolver_refuses_what_the_cli_would(args: list[str]) -> None:
    with pytest.raises(UnknownCommand):
        resolve(args)


# ------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) >= 2, "the Dockerfile should build in one stage and run in another"
    builder = froms[0].split()[-1]
    stage = final_stage(instructions)
    assert any(keyword == "COPY" and f"--from={builder}" in args for keyword, args in stage), (
        "the runtime stage should take what it needs from the build stage"
    )

    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the runtime stage runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the runtime stage runs as {user}"

    healthchecks = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    assert healthchecks, "the image has no HEALTHCHECK"
    assert healthchecks[-1].upper() != "NONE"
    assert "/healthz" in healthchecks[-1]
    assert any(keyword == "EXPOSE" and "8000" in args.split() for keyword, args in stage)


def test_dockerfile_runs_fitboard_commands_that_exist() -> None:
    entrypoint, cmd = image_command()
    assert entrypoint == ["fitboard"]
    assert resolve(cmd) == ["serve"]
    # Listening on every interface, or `docker run -p 8000:8000` reaches nothing.
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"


def test_the_health_paths_are_served_by_the_api(tmp_path: Path) -> None:
    from fitboard.entrypoints.api import create_app

    paths = create_app(Settings(data_dir=tmp_path)).openapi()["paths"]
    assert {"/healthz", "/readyz"} <= set(paths)


def test_dockerignore_keeps_the_build_inputs_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    sources = [
        source
        for keyword, args in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "COPY" and "--from=" not in args
        for source in args.split()[:-1]
        if not source.startswith("--")
    ]
    assert sources, "the Dockerfile copies nothing from the build context"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not dockerignored(source.rstrip("/"), patterns), f".dockerignore drops {source}"
        if (ROOT / source).is_dir():
            for file in (ROOT / source).rglob("*.py"):
                relative = file.relative_to(ROOT).as_posix()
                if "__pycache__" not in relative and ".egg-info" not in relative:
                    assert not dockerignored(relative, patterns), f".dockerignore drops {relative}"
    for junk in (".git/HEAD", ".venv/bin/python", "src/fitboard/__pycache__/cli.cpython-311.pyc"):
        assert dockerignored(junk, patterns), f"{junk} would be sent to the Docker daemon"


# ---------------------------------------------------------------------------- compose.yaml


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def _wrong_port_type(compose: dict[str, Any]) -> None:
    compose["services"]["api"]["ports"] = "nope"


def _unknown_top_level_key(compose: dict[str, Any]) -> None:
    compose["servicez"] = compose.pop("services")


def _unknown_dependency_condition(compose: dict[str, Any]) -> None:
    compose["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"


def _misspelt_service_key(compose: dict[str, Any]) -> None:
    compose["services"]["worker"]["comand"] = compose["services"]["worker"].pop("command")


@pytest.mark.parametrize(
    "break_it",
    [
        _wrong_port_type,
        _unknown_top_level_key,
        _unknown_dependency_condition,
        _misspelt_service_key,
    ],
)
def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path, break_it: Any) -> None:
    compose = load_compose()
    break_it(compose)
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose, sort_keys=False))
    result = check_jsonschema(broken)
    assert result.returncode != 0, "the schema check accepted a broken compose file"


def test_compose_runs_fitboard_commands_that_exist() -> None:
    entrypoint, image_cmd = image_command()
    compose = load_compose()
    services = fitboard_services(compose)
    assert set(FITBOARD_SERVICES) <= set(services)
    ran: dict[str, list[str]] = {}
    for name, service in services.items():
        service_entrypoint, command = service_args(service, image_cmd)
        assert service_entrypoint is None or service_entrypoint == entrypoint
        ran[name] = resolve(command)
    assert ran["migrate"] == ["db", "upgrade"]
    assert ran["api"] == ["serve"]
    assert ran["worker"] == ["worker"]


def test_compose_configures_production_mode_with_real_settings() -> None:
    compose = load_compose()
    env = compose["x-fitboard-env"]
    for name, service in fitboard_services(compose).items():
        assert service["environment"] == env, f"{name} does not use x-fitboard-env"
    # Settings ignores unknown variables, so a misspelt one would silently do nothing.
    fields = {f"FITBOARD_{field.upper()}" for field in Settings.model_fields}
    assert set(env) <= fields, f"not settings: {sorted(set(env) - fields)}"

    assert re.fullmatch(r"\$\{FITBOARD_JWT_SECRET:\?[^}]+\}", env["FITBOARD_JWT_SECRET"])
    with pytest.raises(LookupError, match="FITBOARD_JWT_SECRET"):
        {key: interpolate(str(value), {}) for key, value in env.items()}

    secret = secrets.token_urlsafe(48)
    values = {
        key: interpolate(str(value), {"FITBOARD_JWT_SECRET": secret}) for key, value in env.items()
    }
    settings = Settings.model_validate(
        {key.removeprefix("FITBOARD_").lower(): value for key, value in values.items()}
    )
    assert settings.mode is Mode.PRODUCTION
    assert settings.jwt_secret == secret
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+asyncpg://")
    # The hosts in the URLs are the compose services.
    for url, host in (
        (settings.database_url, "postgres"),
        (settings.redis_url, "redis"),
        (settings.amqp_url, "rabbitmq"),
    ):
        assert f"@{host}:" in str(url) or f"//{host}:" in str(url)


def test_compose_orders_start_up_and_keeps_data_in_volumes() -> None:
    compose = load_compose()
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name in BACKING_SERVICES:
        service = services[name]
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        named = {str(v).split(":")[0] for v in service.get("volumes", [])}
        assert named & declared_volumes, f"{name} keeps its data in no named volume"

    migrate = services["migrate"]
    assert str(migrate.get("restart", "no")) == "no", "a one-shot migration must not restart"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        for backing in BACKING_SERVICES:
            assert depends_on[backing]["condition"] == "service_healthy"

    api = services["api"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert any(str(port).endswith(":8000") for port in api["ports"])
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2
    # The image's healthcheck asks an HTTP port that only `serve` opens.
    assert worker["healthcheck"] == {"disable": True}
    assert migrate["healthcheck"] == {"disable": True}


# ----------------------------------------------------------------------- docs/deploy.md


def test_every_fitboard_command_in_the_deploy_guide_exists() -> None:
    invocations = documented_invocations(DEPLOY_DOC.read_text())
    assert len(invocations) >= 10, "found hardly any fitboard commands in docs/deploy.md"
    resolved = {tuple(resolve(args)) for args in invocations}
    for command in [("serve",), ("worker",), ("db", "upgrade"), ("reconcile",), ("rebuild",)]:
        assert command in resolved, f"docs/deploy.md never shows `fitboard {' '.join(command)}`"
    assert ("dead-letters", "list") in resolved
    assert ("dead-letters", "replay") in resolved


def test_the_deploy_guide_names_only_real_settings() -> None:
    fields = {f"FITBOARD_{field.upper()}" for field in Settings.model_fields}
    named = set(re.findall(r"\bFITBOARD_[A-Z_]+[A-Z]\b", DEPLOY_DOC.read_text()))
    assert named, "docs/deploy.md names no setting"
    assert named <= fields, f"docs/deploy.md names unknown settings: {sorted(named - fields)}"


# ---------------------------------------------------------------------------------- wheel


def test_the_wheel_ships_the_migrations_and_the_command(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    out = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("fitboard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        console_scripts = archive.read(entry_points).decode()

    def package_files(root: Path) -> set[str]:
        return {
            path.relative_to(ROOT / "src").as_posix()
            for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        }

    migrations = package_files(MIGRATIONS)
    assert "fitboard/adapters/sql/migrations/script.py.mako" in migrations
    assert any(re.fullmatch(r".*/migrations/versions/[^/]+\.py", name) for name in migrations)
    assert migrations <= names, f"missing from the wheel: {sorted(migrations - names)}"
    # Data files beside the code (rules, templates, assets) must ship as well.
    everything = package_files(PACKAGE)
    assert everything <= names, f"missing from the wheel: {sorted(everything - names)}"
    assert re.search(r"^fitboard\s*=\s*fitboard\.entrypoints\.cli:main$", console_scripts, re.M)
