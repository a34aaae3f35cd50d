"""A private, throw-away Postfix instance for interop tests.

``start_postfix(workdir)`` configures and starts a Postfix instance that is completely
separate from any system Postfix: its own ``config_directory``, ``queue_directory``,
``data_directory`` and log file, listening only on free high ports on 127.0.0.1.

Facts this module relies on (verified with Postfix 3.7 on Debian 12, as root):

* ``postfix -c DIR start`` works for root without listing DIR in
  ``alternate_config_directories`` (that list only guards the set-gid programs
  ``postdrop``/``postqueue``), and even when ``/etc/postfix/main.cf`` does not exist.
* ``queue_directory`` must exist (root-owned) before ``postfix start``; ``post-install
  create-missing`` (run by ``postfix start``) creates its subdirectories and
  ``data_directory``.
* ``maillog_file`` must start with one of ``maillog_file_prefixes`` (default
  ``/var, /dev/stdout``), otherwise ``postfix`` exits 1 and, when stderr is not a tty,
  reports the reason only to syslog (which usually does not exist in containers).
* Postfix refuses to use a config file whose mtime is less than ~1 s old: it re-reads it
  every 300 ms until it is "old enough".  Freshly written main.cf/master.cf are therefore
  backdated, which brings ``postfix start`` from ~2 s down to ~0.3 s.
* ``postfix start`` runs ``master -w``, i.e. it returns only after the master has
  bound the listeners (or failed to); the harness still probes every port for a 220
  greeting (over TLS for the implicit-TLS port) before returning.
* The master runs in its own process group; ``postfix stop``/``abort`` SIGTERM the
  master, which signals the group.  ``stop()`` runs ``postfix -c DIR abort`` (``stop``
  would add up to 1 s of ``sleep``), waits until no live process of that process group
  is left, and SIGKILLs the group after 10 s.
* Unprivileged processes need to traverse the instance directories: the master opens
  ``data_directory/master.lock`` as ``mail_owner`` (postfix), smtpd opens the sasldb
  after dropping privileges, and ``virtual(8)`` writes the Maildir as the mailbox owner.
  pytest's temporary directories (``/tmp/pytest-of-root``) are mode 0700, so when
  ``workdir`` is not traversable by other users the instance (config, queue, data, TLS,
  sasldb, Maildir) lives in a ``mkdtemp`` directory under ``$TMPDIR`` instead (symlinked
  as ``workdir/postfix-*/instance``, removed by ``stop()``).  Only the log file stays in
  ``workdir``: postlogd opens it before dropping privileges.
* SASL uses a private Cyrus sasldb: ``saslpasswd2 -f FILE``, with ``sasldb_path: FILE``
  in ``smtpd.conf``, found via ``cyrus_sasl_config_path``.  Nothing under ``/etc`` is
  touched.
* ``local_header_rewrite_clients`` is emptied: its default (``permit_inet_interfaces``)
  treats 127.0.0.1 as a local client, and cleanup would then add missing
  Date/Message-ID/From headers and rewrite header addresses, breaking byte-exact checks.

Only the standard library and ``trustme`` are used; pytest is not imported.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers._process import start_on_a_free_port

POSTFIX = "/usr/sbin/postfix"
SASLPASSWD2_CANDIDATES = ("/usr/sbin/saslpasswd2", "/usr/bin/saslpasswd2")
SASLDB_PLUGIN_GLOBS = ("/usr/lib/*/sasl2/libsasldb.so*", "/usr/lib/sasl2/libsasldb.so*")

SASL_REALM = "example.test"
SASL_USER = "mailsdk"
DEFAULT_PASSWORD = "mailsdk-Secret-1"
DEFAULT_MESSAGE_SIZE_LIMIT = 5 * 1024 * 1024
MAILBOX_OWNER_CANDIDATES = ("nobody",)

_MAILDIR_SUBDIRS = ("Maildir/new", "Maildir/cur", "Maildir/tmp")
_RUNTIME_PREFIX = "mailsdk-postfix-"  # runtime dirs in $TMPDIR (see _runtime_dir)
_OWNER_FILE = "owner.pid"  # pid of the process that started the instance


class PostfixStartError(RuntimeError):
    """The private Postfix instance could not be configured or started."""


# --------------------------------------------------------------------------- availability


def _find_saslpasswd2() -> str | None:
    for candidate in SASLPASSWD2_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("saslpasswd2")


def _sasldb_plugin_present() -> bool:
    root = Path("/")
    return any(any(root.glob(pattern.lstrip("/"))) for pattern in SASLDB_PLUGIN_GLOBS)


def postfix_unavailable_reason() -> str | None:
    """Why a private Postfix cannot be started here, or None when it can."""
    if not os.access(POSTFIX, os.X_OK):
        return f"{POSTFIX} not found (run scripts/setup-dev.sh)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (postfix start/stop, chown)"
    if _find_saslpasswd2() is None:
        return "saslpasswd2 not found (package sasl2-bin; run scripts/setup-dev.sh)"
    if not _sasldb_plugin_present():
        return "Cyrus SASL sasldb plugin not found (package libsasl2-modules-db)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "user 'postfix' does not exist (is the postfix package installed?)"
    try:
        import trustme  # noqa: F401
    except ImportError:
        return "python package 'trustme' is not installed (pip install -e '.[dev]')"
    return None


def postfix_available() -> bool:
    """True when /usr/sbin/postfix exists and we are root (plus the SASL bits we need)."""
    return postfix_unavailable_reason() is None


# --------------------------------------------------------------------------- helpers


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct free TCP ports, found by binding to port 0 (all held open together)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _traversable_by_others(path: Path) -> bool:
    """Whether every directory from / down to ``path`` has the 'other' x bit."""
    path = path.resolve()
    for p in (path, *path.parents):
        try:
            if not p.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _mailbox_owner() -> pwd.struct_passwd:
    for name in MAILBOX_OWNER_CANDIDATES:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry
    raise PostfixStartError(
        f"none of the users {MAILBOX_OWNER_CANDIDATES} exists; need a non-root mailbox owner"
    )


def _run(argv: list[str], *, input_text: str | None = None, timeout: float = 30.0) -> str:
    """Run a command; return its output, raise PostfixStartError when it fails.

    Output goes through a temporary file, not a pipe: ``postfix start`` forks the
    master daemon, and a daemon that kept a pipe open would make us wait forever.
    """
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(
                argv,
                input=None if input_text is None else input_text.encode(),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostfixStartError(f"{' '.join(argv)}: {exc}") from exc
        out.seek(0)
        output = out.read().decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise PostfixStartError(
            f"{' '.join(argv)} exited with {proc.returncode}; output: {output.strip()!r}"
        )
    return output


def _process_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces/parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _read_master_pid(queue_dir: Path) -> int | None:
    try:
        return int((queue_dir / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _shutdown(
    config_dir: Path, queue_dir: Path, remove_dirs: tuple[Path, ...], timeout: float = 10.0
) -> None:
    """Stop the instance (idempotent) and make sure none of its processes survive."""
    master = _read_master_pid(queue_dir)
    if master is not None and _process_group_members(master):
        # "abort" and "stop" both SIGTERM the master (which signals its process group);
        # "stop" then polls with `sleep 1`, so we use "abort" and wait for the group here.
        with contextlib.suppress(PostfixStartError):
            _run([POSTFIX, "-c", str(config_dir), "abort"], timeout=timeout)
        deadline = time.monotonic() + timeout
        while _process_group_members(master) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _process_group_members(master):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(master, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while _process_group_members(master) and time.monotonic() < deadline:
                time.sleep(0.02)
    for d in remove_dirs:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- the peer


@dataclass
class PostfixPeer:
    """A running private Postfix instance (see module docstring)."""

    host: str
    #: STARTTLS required; SASL AUTH (PLAIN LOGIN) only after TLS; relays only when authed.
    submission_port: int
    #: implicit TLS (wrappermode) + SASL AUTH.
    smtps_port: int
    #: plain, no TLS offered, no AUTH; accepts mail to any domain.
    plain_port: int
    #: PEM of the throw-away CA that signed the server certificate (localhost/127.0.0.1).
    ca_file: str
    #: full SASL login, including the realm.
    username: str
    password: str
    #: DIR/Maildir/new/ where delivered files appear.
    maildir: Path
    message_size_limit: int
    config_dir: Path = field(repr=False)
    queue_dir: Path = field(repr=False)
    log_file: Path = field(repr=False)
    _remove_on_stop: tuple[Path, ...] = field(default=(), repr=False)
    _finalizer: weakref.finalize[[Path, Path, tuple[Path, ...]], PostfixPeer] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Safety net: stop the instance at interpreter exit if stop() was never called.
        self._finalizer = weakref.finalize(
            self, _shutdown, self.config_dir, self.queue_dir, self._remove_on_stop
        )

    # -- mailbox ------------------------------------------------------------------------

    def _delivered(self) -> list[Path]:
        """Delivered files, oldest first (virtual(8) renames complete files into new/)."""
        found: list[tuple[int, str, Path]] = []
        with contextlib.suppress(FileNotFoundError):
            for p in self.maildir.iterdir():
                with contextlib.suppress(FileNotFoundError):  # clear() may race with us
                    found.append((p.stat().st_mtime_ns, p.name, p))
        return [p for _, _, p in sorted(found)]

    def wait_for_messages(self, n: int, timeout: float = 10.0) -> list[bytes]:
        """Bytes of all delivered files (oldest first) once at least ``n`` exist.

        Files are as stored by virtual(8): ``Return-Path``, ``X-Original-To``,
        ``Delivered-To`` and ``Received`` prepended, LF line endings (Postfix stores
        lines, not CRLF), and any ``Bcc:`` header removed by cleanup(8); everything else
        is byte-for-byte what the client sent (after SMTP dot-unstuffing).
        """
        deadline = time.monotonic() + timeout
        while True:
            files = self._delivered()
            if len(files) >= n:
                return [p.read_bytes() for p in files]
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {n} delivered message(s) in {self.maildir}, found {len(files)} "
                    f"after {timeout}s; maillog tail:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def clear(self) -> None:
        """Delete every delivered message (new/ and cur/)."""
        for sub in (self.maildir, self.maildir.parent / "cur"):
            with contextlib.suppress(FileNotFoundError):
                for p in sub.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()

    # -- lifecycle ----------------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_file, lines)

    def stop(self) -> None:
        """Stop the instance; no process of it is left afterwards. Idempotent."""
        if self._finalizer is not None:
            self._finalizer()  # runs _shutdown once; later calls are no-ops


# --------------------------------------------------------------------------- configuration


def _main_cf(
    *,
    config_dir: Path,
    queue_dir: Path,
    data_dir: Path,
    log_file: Path,
    tls_chain: Path,
    mail_base: Path,
    owner: pwd.struct_passwd,
    instance: str,
    message_size_limit: int,
) -> str:
    return f"""\
# Private Postfix instance for the mailsdk interop tests. Generated; do not edit.
compatibility_level = 3.6
config_directory = {config_dir}
queue_directory = {queue_dir}
data_directory = {data_dir}
mail_owner = postfix
setgid_group = postdrop
syslog_name = {instance}
maillog_file = {log_file}
maillog_file_prefixes = {log_file.parent}

myhostname = mailsdk-test.localhost
mydomain = localhost
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP mailsdk test Postfix
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
in_flow_delay = 0
biff = no
notify_classes =
delay_warning_time = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s

# Store exactly what the client sent (see module docstring).
local_header_rewrite_clients =
always_add_missing_headers = no

smtputf8_enable = yes
message_size_limit = {message_size_limit}
mailbox_size_limit = 0
virtual_mailbox_limit = 0

# Every domain is a virtual mailbox domain; every recipient lands in one Maildir.
virtual_mailbox_domains = static:all
virtual_mailbox_base = {mail_base}
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
virtual_minimum_uid = {owner.pw_uid}

smtpd_tls_chain_files = {tls_chain}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtp_tls_security_level = none

smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {config_dir / "sasl"}
smtpd_sasl_auth_enable = no
smtpd_sasl_local_domain = {SASL_REALM}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
"""


def _master_cf(host: str, submission: int, smtps: int, plain: int, instance: str) -> str:
    authed = (
        "  -o smtpd_sasl_auth_enable=yes\n"
        "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
        "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
        "  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n"
    )
    # chroot is "n" everywhere: sasldb, certificates and the Maildir live outside any jail.
    return (
        "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
        f"{host}:{submission} inet n - n - - smtpd\n"
        f"  -o syslog_name={instance}/submission\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        "  -o smtpd_tls_auth_only=yes\n"
        f"{authed}"
        f"{host}:{smtps} inet n - n - - smtpd\n"
        f"  -o syslog_name={instance}/smtps\n"
        "  -o smtpd_tls_wrappermode=yes\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        f"{authed}"
        f"{host}:{plain} inet n - n - - smtpd\n"
        f"  -o syslog_name={instance}/plain\n"
        "  -o smtpd_tls_security_level=none\n"
        "  -o smtpd_sasl_auth_enable=no\n"
        """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
    )


def _write_tls(tls_dir: Path) -> Path:
    import trustme

    tls_dir.mkdir(mode=0o711)  # ca.pem is world-readable, the key is root-only
    ca = trustme.CA(organization_name="mailsdk test CA")
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca_file = tls_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca_file.chmod(0o644)
    chain = tls_dir / "server.pem"  # private key first, then the certificate chain
    server.private_key_and_cert_chain_pem.write_to_path(str(chain))
    chain.chmod(0o600)
    return ca_file


def _write_sasl(config_dir: Path, runtime: Path, password: str) -> None:
    postfix_gid = pwd.getpwnam("postfix").pw_gid
    sasl_dir = runtime / "sasl"  # read by smtpd *after* it dropped to the postfix user
    sasl_dir.mkdir(mode=0o750)
    os.chown(sasl_dir, 0, postfix_gid)
    sasldb = sasl_dir / "sasldb2"
    saslpasswd2 = _find_saslpasswd2() or "saslpasswd2"
    _run(
        [saslpasswd2, "-f", str(sasldb), "-p", "-c", "-u", SASL_REALM, SASL_USER],
        input_text=password,
    )
    os.chown(sasldb, 0, postfix_gid)
    sasldb.chmod(0o640)
    # Found via cyrus_sasl_config_path (Debian's Postfix also searches $config_directory/sasl).
    conf_dir = config_dir / "sasl"
    conf_dir.mkdir(mode=0o755)
    (conf_dir / "smtpd.conf").write_text(
        "pwcheck_method: auxprop\n"
        "auxprop_plugin: sasldb\n"
        "mech_list: PLAIN LOGIN\n"
        f"sasldb_path: {sasldb}\n"
    )


def _probe(peer: PostfixPeer, port: int) -> None:
    """One readiness check: greeting, and TLS + AUTH where the port offers them."""
    ctx = ssl.create_default_context(cafile=peer.ca_file)
    if port == peer.smtps_port:
        with smtplib.SMTP_SSL(peer.host, port, context=ctx, timeout=5) as smtp:
            smtp.login(peer.username, peer.password)
    elif port == peer.submission_port:
        with smtplib.SMTP(peer.host, port, timeout=5) as smtp:
            smtp.starttls(context=ctx)
            smtp.login(peer.username, peer.password)
    else:
        with smtplib.SMTP(peer.host, port, timeout=5) as smtp:
            smtp.ehlo()


def _fatal_in_log(log_file: Path) -> str | None:
    """The first fatal/panic line of the log: a daemon (e.g. smtpd) cannot work."""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if ": fatal: " in line or ": panic: " in line:
            return line
    return None


def _wait_ready(peer: PostfixPeer, timeout: float) -> None:
    """Probe every port until it works; fail fast on errors that will not go away."""
    deadline = time.monotonic() + timeout
    pending = [peer.submission_port, peer.smtps_port, peer.plain_port]
    while pending:
        port = pending[0]
        try:
            _probe(peer, port)
        except OSError as exc:  # includes ssl.SSLError and smtplib.SMTPException
            fatal = _fatal_in_log(peer.log_file)
            if fatal:
                why = f"Postfix logged: {fatal}"
            elif isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError)):
                why = "SASL AUTH does not work (check smtpd.conf / sasldb)"
            elif isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
                why = "TLS handshake failed (check the key/certificate)"
            elif time.monotonic() >= deadline:
                why = f"not ready after {timeout}s"
            else:
                time.sleep(0.05)
                continue
            raise PostfixStartError(
                f"Postfix port {peer.host}:{port}: {exc!r}; {why}\n"
                f"maillog tail ({peer.log_file}):\n{peer.log_tail()}"
            ) from exc
        pending.pop(0)


def _reap_stale_instances() -> None:
    """Stop and remove instances left in $TMPDIR by test processes that died (SIGKILL...)."""
    for runtime in Path(tempfile.gettempdir()).glob(f"{_RUNTIME_PREFIX}*"):
        try:
            owner = int((runtime / _OWNER_FILE).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            os.kill(owner, 0)
            continue  # owner still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _shutdown(runtime / "conf", runtime / "queue", (runtime,))


def _runtime_dir(inst: Path) -> tuple[Path, tuple[Path, ...]]:
    """Directory for config, queue, data, TLS, sasldb and Maildir, and dirs to remove.

    Unprivileged Postfix processes need to traverse it (see module docstring).
    """
    if _traversable_by_others(inst):
        runtime = inst / "instance"
        runtime.mkdir(mode=0o711)
        return runtime, ()
    runtime = Path(tempfile.mkdtemp(prefix=_RUNTIME_PREFIX))
    runtime.chmod(0o711)
    (runtime / _OWNER_FILE).write_text(f"{os.getpid()}\n")
    if not _traversable_by_others(runtime):
        shutil.rmtree(runtime, ignore_errors=True)
        raise PostfixStartError(
            f"neither {inst} nor {runtime.parent} is traversable by other users (needed by "
            "the postfix and mailbox users); set TMPDIR to a world-traversable directory"
        )
    (inst / "instance").symlink_to(runtime)
    return runtime, (runtime,)


def _start_once(workdir: Path, password: str, message_size_limit: int) -> PostfixPeer:
    host = "127.0.0.1"
    inst = Path(tempfile.mkdtemp(prefix="postfix-", dir=workdir))
    inst.chmod(0o711)  # mkdtemp makes it 0700; allow traversal (see _runtime_dir)
    log_file = inst / "maillog"  # opened by postlogd before it drops privileges
    runtime, remove = _runtime_dir(inst)
    config_dir, queue_dir, data_dir = runtime / "conf", runtime / "queue", runtime / "data"
    try:
        config_dir.mkdir(mode=0o755)
        queue_dir.mkdir(mode=0o755)  # must pre-exist; postfix creates the subdirectories
        owner = _mailbox_owner()
        mail_base = runtime / "mail"
        for d in (mail_base, *(mail_base / sub for sub in ("Maildir", *_MAILDIR_SUBDIRS))):
            d.mkdir(mode=0o700)
            os.chown(d, owner.pw_uid, owner.pw_gid)
        ca_file = _write_tls(runtime / "tls")
        _write_sasl(config_dir, runtime, password)

        submission, smtps, plain = free_ports(3, host)
        instance = f"postfix-mailsdk-{submission}"
        (config_dir / "main.cf").write_text(
            _main_cf(
                config_dir=config_dir,
                queue_dir=queue_dir,
                data_dir=data_dir,
                log_file=log_file,
                tls_chain=runtime / "tls" / "server.pem",
                mail_base=mail_base,
                owner=owner,
                instance=instance,
                message_size_limit=message_size_limit,
            )
        )
        (config_dir / "master.cf").write_text(_master_cf(host, submission, smtps, plain, instance))
        # Postfix re-reads a config file every 300 ms until its mtime is more than a
        # second in the past ("being edited" guard): backdate them to save ~2 s.
        past = time.time() - 60
        for name in ("main.cf", "master.cf", "sasl/smtpd.conf"):
            os.utime(config_dir / name, (past, past))
    except BaseException:
        for d in remove:
            shutil.rmtree(d, ignore_errors=True)
        raise

    peer = PostfixPeer(
        host=host,
        submission_port=submission,
        smtps_port=smtps,
        plain_port=plain,
        ca_file=str(ca_file),
        username=f"{SASL_USER}@{SASL_REALM}",
        password=password,
        maildir=mail_base / "Maildir" / "new",
        message_size_limit=message_size_limit,
        config_dir=config_dir,
        queue_dir=queue_dir,
        log_file=log_file,
        _remove_on_stop=remove,
    )
    try:
        try:
            _run([POSTFIX, "-c", str(config_dir), "start"], timeout=60.0)
        except PostfixStartError as exc:
            raise PostfixStartError(
                f"{exc}\nmaillog tail ({log_file}):\n{_tail(log_file)}"
            ) from exc
        _wait_ready(peer, timeout=15.0)
    except BaseException:
        peer.stop()
        raise
    return peer


def start_postfix(
    workdir: Path,
    *,
    password: str = DEFAULT_PASSWORD,
    message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT,
) -> PostfixPeer:
    """Configure and start a private Postfix instance under ``workdir``.

    Returns once all three ports answer with a 220 greeting.  Raises PostfixStartError
    (with the maillog tail) on failure.  Call ``stop()`` when done.
    """
    reason = postfix_unavailable_reason()
    if reason is not None:
        raise PostfixStartError(reason)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    _reap_stale_instances()
    return start_on_a_free_port(
        lambda: _start_once(workdir, password, message_size_limit),
        PostfixStartError,
        "Address already in use",
    )
