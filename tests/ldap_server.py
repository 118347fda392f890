"""A real OpenLDAP server for the LDAP tests: Debian's ``slapd`` (apt ``slapd``, ``ldap-utils``).

Its own configuration in a tmp dir: a ``slapd.conf`` (mdb backend, suffix ``dc=example,dc=org``, the
core/cosine/inetorgperson schemas), the entries loaded offline by ``slapadd`` (users are ``inetOrgPerson``
with ``{SSHA}`` passwords, groups ``groupOfNames``), then ``slapd -h ldap://127.0.0.1:<free port>/ -f
slapd.conf`` as the current user. ``start()`` returns once a
bind as the manager works (bounded by START_TIMEOUT). Like many directories in the wild, it ACCEPTS
unauthenticated binds (a DN with an empty password succeeds, as anonymous: RFC 4513 5.1.2), so a client
that forwards an empty password is caught by the tests.

    slapd = Slapd(tmp_dir, users={"alice": "pw"}, groups={"readers": ["alice"]}); slapd.start()
    slapd.url, slapd.manager_dn, slapd.manager_password, slapd.user_dn("alice"), slapd.group_dn("readers")
    slapd.stop(); slapd.start()                          # same port, same data
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from processes import stop_process

SUFFIX = "dc=example,dc=org"
START_TIMEOUT = 20.0
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")


def slapd_binary() -> str | None:
    """``slapd`` on PATH or in /usr/sbin (Debian puts it there, outside a normal user's PATH)."""
    found = shutil.which("slapd") or ("/usr/sbin/slapd" if os.access("/usr/sbin/slapd", os.X_OK) else None)
    return found


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssha(password: str) -> str:
    """``{SSHA}`` as slappasswd makes it: base64(sha1(password + salt) + salt)."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


class Slapd:
    def __init__(self, root: Path, *, users: dict[str, str], groups: dict[str, list[str]]) -> None:
        """``users``: uid -> password (under ou=people); ``groups``: cn -> member uids (under ou=groups)."""
        binary = slapd_binary()
        if binary is None:
            raise RuntimeError("no slapd: install Debian's slapd and ldap-utils (scripts/test does)")
        self.binary = binary
        self.root = root
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.manager_dn = f"cn=manager,{SUFFIX}"
        self.manager_password = "manager-secret"
        self.log_file = root / "slapd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._users, self._groups = users, groups
        self.config_file = root / "slapd.conf"
        if not self.config_file.exists():
            self._configure()

    def user_dn(self, uid: str) -> str:
        return f"uid={uid},ou=people,{SUFFIX}"

    def group_dn(self, cn: str) -> str:
        return f"cn={cn},ou=groups,{SUFFIX}"

    def _configure(self) -> None:
        data = self.root / "data"
        data.mkdir(parents=True)
        conf = self.root / "slapd.conf.tmp"
        conf.write_text(
            "".join(f"include {SCHEMAS / s}.schema\n" for s in ("core", "cosine", "inetorgperson"))
            + f"pidfile {self.root / 'slapd.pid'}\n"
            + f"modulepath {MODULES}\nmoduleload back_mdb\n"
            + "allow bind_anon_dn\n"   # unauthenticated binds succeed: the client must refuse them
            + "database mdb\n"
            + f"suffix \"{SUFFIX}\"\nrootdn \"{self.manager_dn}\"\nrootpw {ssha(self.manager_password)}\n"
            + f"directory {data}\nmaxsize 104857600\n"
            + "index objectClass eq\nindex uid eq\nindex member eq\n"
            + "access to attrs=userPassword by self write by anonymous auth by * none\n"
            + "access to * by users read by * none\n")
        entries = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
            f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n",
        ]
        for uid, password in self._users.items():
            entries.append(f"dn: {self.user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n"
                           f"sn: {uid}\nuserPassword: {ssha(password)}\n")
        for cn, members in self._groups.items():
            entries.append(f"dn: {self.group_dn(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n"
                           + "".join(f"member: {self.user_dn(m)}\n" for m in members))
        ldif = self.root / "data.ldif"
        ldif.write_text("\n".join(entries))
        added = subprocess.run([_sbin("slapadd"), "-q", "-f", str(conf), "-l", str(ldif)], capture_output=True)
        if added.returncode != 0:
            raise RuntimeError(f"slapadd failed: {added.stderr.decode(errors='replace')}")
        conf.rename(self.config_file)                     # configured: a restart keeps the data

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_file, "ab") as log:
            # -d 0: stay in the foreground (so stop() owns the process) without debug output.
            self._proc = subprocess.Popen(
                [self.binary, "-h", f"{self.url}/", "-f", str(self.config_file), "-d", "0"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._bind_works():
            if not self.running or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"slapd did not accept a bind within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _bind_works(self) -> bool:
        result = subprocess.run(
            ["ldapwhoami", "-x", "-H", self.url, "-D", self.manager_dn, "-w", self.manager_password,
             "-o", "nettimeout=2"], capture_output=True)
        return result.returncode == 0

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
