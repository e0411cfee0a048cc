"""The TLS probe against a local TLS server serving a generated, expired certificate."""
import datetime as dt
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools.domain.evidence import EvidenceLedger
from tools import TOOLS, ToolContext
from tools.backends.base import TelemetryError
from tools.backends.config import open_telemetry
from tools.backends.tls_probe import probe

EXPIRED = dt.datetime(2026, 3, 6, 16, 58, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token.internal")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(EXPIRED - dt.timedelta(days=365)).not_valid_after(EXPIRED)
            .sign(key, hashes.SHA256()))
    (d / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "c.pem", d / "k.pem")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                conn.settimeout(5)         # a client that never closes does not hold the thread past teardown
                with ctx.wrap_socket(conn, server_side=True) as s:
                    s.recv(1)
            except (OSError, ssl.SSLError):
                pass
    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    yield srv.getsockname()[1]
    stop.set()
    serving.join(10)
    srv.close()


def test_probe_reads_the_served_certificate(tls_server):
    c = probe("127.0.0.1", tls_server, server_name="token.internal")
    assert c["not_after"] == EXPIRED and "token.internal" in c["subject"]


def test_certificates_tool_over_the_probe_flags_the_expiry(tls_server, tmp_path):
    from conftest import DEMO
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[sources.certificates]\nbackend = "tls_probe"\n'
                   f'endpoints = [{{service = "token", host = "127.0.0.1", port = {tls_server}, purpose = "server"}}]\n')
    tel = open_telemetry(DEMO, cfg)
    res = TOOLS["certificates"](ToolContext(tel, EvidenceLedger()), {})
    assert [r.status for r in res.data] == ["expired"] and res.data[0].service == "token"
    assert "expired 7 min before" in res.text


def test_unreachable_endpoint_is_a_clear_error():
    with pytest.raises(TelemetryError, match="TLS probe of 127.0.0.1:9 failed"):
        probe("127.0.0.1", 9, timeout=1)
