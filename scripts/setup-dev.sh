#!/usr/bin/env bash
# Prepare a (fresh) Debian/Ubuntu machine for the mailsdk test suite.  Idempotent.
#
#   1. System packages for the interop tests (tests/interop): postfix (also provides
#      smtp-sink), swaks, Cyrus SASL modules and sasl2-bin (saslpasswd2), and redis-server
#      for the Celery tests (they start their own on a free port).  Skipped when
#      they are all installed already.  Needs root; uses sudo when not root.
#      python3/python3-pip are added when python3 is missing or Debian's has no pip.
#   2. The project itself in editable mode with its dev extra: pip install -e '.[dev]'.
#      For a Debian-managed interpreter outside a virtualenv (PEP 668
#      "externally-managed-environment"), --break-system-packages is added only when CI
#      is set (throw-away machine); elsewhere the script stops and suggests a venv.
#
# Environment: PYTHON (default python3) selects the interpreter for step 2.
set -euo pipefail

PACKAGES=(postfix swaks libsasl2-modules sasl2-bin redis-server)
PYTHON="${PYTHON:-python3}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'setup-dev: %s\n' "$*" >&2; }

in_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
        "" | 0 | false | no) return 1 ;;
        *) return 0 ;;
    esac
}

# No python3 at all, or Debian's python3 without pip: install them with the rest.
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    case "$(command -v "$PYTHON" || true)" in
        "") if [[ "$PYTHON" == python3 ]]; then PACKAGES+=(python3 python3-pip); fi ;;
        /usr/bin/*) PACKAGES+=(python3-pip) ;;
    esac
fi

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        # dpkg -s succeeds for removed-but-not-purged packages too: check the status line.
        if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        log "not a Debian-like system (no dpkg/apt-get): install ${PACKAGES[*]} yourself;" \
            "interop tests skip without them (and fail when CI is set)"
        return 0
    fi

    local missing
    missing="$(missing_packages)"
    if [[ -z "$missing" ]]; then
        log "system packages already installed: ${PACKAGES[*]}"
        return 0
    fi
    log "missing system packages: $(echo "$missing" | tr '\n' ' ')"

    local sudo=""
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            log "not root and no sudo; run as root:"
            log "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections"
            log "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${PACKAGES[*]}"
            log "continuing with the Python packages only"
            return 0
        fi
    fi

    # "No configuration": do not let the package configure (or start) a system MTA;
    # the tests run their own private Postfix instance.
    echo 'postfix postfix/main_mailer_type select No configuration' \
        | $sudo debconf-set-selections
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"
}

externally_managed() {
    "$PYTHON" - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if not in_venv and os.path.exists(marker) else 1)
PY
}

install_python_packages() {
    local -a pip_args=(install -e '.[dev]')
    if externally_managed; then
        if in_ci; then
            log "$PYTHON is externally managed (PEP 668); CI is set: --break-system-packages"
            pip_args+=(--break-system-packages)
        else
            log "$PYTHON is externally managed (PEP 668): use a virtualenv, e.g."
            log "  python3 -m venv .venv && . .venv/bin/activate && bash scripts/setup-dev.sh"
            return 1
        fi
    fi
    log "installing mailsdk with the dev extra: $PYTHON -m pip ${pip_args[*]}"
    cd "$REPO_ROOT"
    "$PYTHON" -m pip "${pip_args[@]}"
}

install_system_packages
install_python_packages
log "done"
