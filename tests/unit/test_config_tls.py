"""`listen.tls` and `operators[i].tls`: certificate and key files checked when the config is
loaded, every problem located as file:line:column: field (aggregator.tls). Files are the point,
so these tests write real ones (certificates made in the test)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aggregator.config import ConfigError, TlsConfig, load_config
from aggregator.tls import MAX_PEM_BYTES, expired, expired_listen_certificate, expired_operator_certificate
from tests.support.tls import NOT_AFTER, NOT_BEFORE, self_signed

OPERATOR = """\
operators:
  - id: secure
    name: Secure
    carriers: [Secure]
{tls}accounts: [{{system_id: demo, password: demo}}]
"""


def write(directory: Path, listen: str = "", operator_tls: str = "") -> Path:
    path = directory / "net.yaml"
    tls = f"    tls: {operator_tls}\n" if operator_tls else ""
    path.write_text((f"listen: {listen}\n" if listen else "") + OPERATOR.format(tls=tls))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).splitlines()


def test_a_missing_certificate_is_refused_at_load_naming_file_line_and_field(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path)
    path = write(tmp_path, "{tls: {certificate: nowhere.crt, key: server.key}}")
    assert problems(path) == [f"{path}:1:29: listen.tls.certificate: cannot read certificate file"
                              f" {tmp_path / 'nowhere.crt'}: No such file or directory"]


def test_an_operator_key_that_is_missing_is_refused_at_load(tmp_path: Path) -> None:
    self_signed(tmp_path)
    path = write(tmp_path, operator_tls="{certificate: server.crt, key: gone.key}")
    assert problems(path) == [f"{path}:5:41: operators[0].tls.key: cannot read key file"
                              f" {tmp_path / 'gone.key'}: No such file or directory"]


def test_files_that_hold_no_pem_are_refused_without_quoting_them(tmp_path: Path) -> None:
    self_signed(tmp_path)
    (tmp_path / "notes.txt").write_text("SECRET-CONTENT\n" * 10)
    path = write(tmp_path, "{tls: {certificate: notes.txt, key: server.key}}")
    (line,) = problems(path)
    assert line == (f"{path}:1:29: listen.tls.certificate: expected PEM certificates (-----BEGIN CERTIFICATE-----)"
                    f" in {tmp_path / 'notes.txt'}, found none that can be read")
    path = write(tmp_path, "{tls: {certificate: server.crt, key: notes.txt}}")
    (line,) = problems(path)
    assert "listen.tls.key: expected a PEM private key" in line and "SECRET" not in line


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    self_signed(tmp_path, "one")
    self_signed(tmp_path, "two")
    path = write(tmp_path, "{tls: {certificate: one.crt, key: two.key}}")
    assert problems(path) == [f"{path}:1:43: listen.tls.key: the private key in {tmp_path / 'two.key'} does not"
                              f" match the certificate in {tmp_path / 'one.crt'}"]


def test_an_encrypted_key_is_refused_not_prompted_for(tmp_path: Path) -> None:
    self_signed(tmp_path)
    key = serialization.load_pem_private_key((tmp_path / "server.key").read_bytes(), password=None)
    (tmp_path / "locked.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    path = write(tmp_path, "{tls: {certificate: server.crt, key: locked.key}}")
    (line,) = problems(path)
    assert line.startswith(f"{path}:1:46: listen.tls.key: the private key in {tmp_path / 'locked.key'} is encrypted")


def test_a_fifo_or_a_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    self_signed(tmp_path)
    os.mkfifo(tmp_path / "pipe.crt")                 # opening it for reading would wait for a writer
    path = write(tmp_path, "{tls: {certificate: pipe.crt, key: /dev/zero}}")
    assert problems(path) == [f"{path}:1:29: listen.tls.certificate: expected a regular certificate file,"
                              f" got {tmp_path / 'pipe.crt'}, which is not a regular file"]
    path = write(tmp_path, "{tls: {certificate: server.crt, key: /dev/zero}}")
    assert problems(path) == [f"{path}:1:46: listen.tls.key: expected a regular key file,"
                              " got /dev/zero, which is not a regular file"]


def test_a_file_past_the_size_limit_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    (tmp_path / "huge.crt").write_bytes(cert.read_bytes() + b"\n" * MAX_PEM_BYTES)
    path = write(tmp_path, "{tls: {certificate: huge.crt, key: server.key}}")
    (line,) = problems(path)
    assert line.startswith(f"{path}:1:29: listen.tls.certificate: expected a certificate file of at most"
                           f" {MAX_PEM_BYTES} bytes")


def test_an_operator_certificate_must_name_the_host_the_aggregator_dials(tmp_path: Path) -> None:
    self_signed(tmp_path, "elsewhere", hosts=("smsc.example.org",))
    self_signed(tmp_path, "nameless", hosts=())
    path = write(tmp_path, operator_tls="{certificate: elsewhere.crt, key: elsewhere.key}")
    assert problems(path) == [f"{path}:5:24: operators[0].tls.certificate: the certificate in"
                              f" {tmp_path / 'elsewhere.crt'} does not name the host the aggregator dials"
                              " (127.0.0.1); its names: DNS:smsc.example.org"]
    path = write(tmp_path, operator_tls="{certificate: nameless.crt, key: nameless.key}")
    (line,) = problems(path)
    assert line.endswith("has no subjectAltName, so the aggregator cannot check it names the host it dials"
                         " (127.0.0.1); make it with -addext subjectAltName=IP:127.0.0.1")


def test_the_tls_port_cannot_be_the_plain_or_the_control_port(tmp_path: Path) -> None:
    self_signed(tmp_path)
    path = write(tmp_path, "{port: 2775, tls: {port: 2775, certificate: server.crt, key: server.key}}")
    assert problems(path) == [f"{path}:1:34: listen.tls.port: expected a port other than listen.port (2775),"
                              " got 2775"]
    path = write(tmp_path, "{tls: {port: 2776, certificate: server.crt, key: server.key}}")
    assert problems(path) == [f"{path}:1:22: listen.tls.port: expected a port other than control.port (2776),"
                              " got 2776"]


def test_paths_are_relative_to_the_config_file_and_the_pem_is_kept(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    cert, key = self_signed(tmp_path / "conf")
    path = write(tmp_path / "conf", "{tls: {certificate: server.crt, key: server.key}}",
                 operator_tls="{certificate: server.crt, key: server.key}")
    monkeypatch.chdir(tmp_path)                      # not the config file's directory
    config = load_config(path)
    expected = TlsConfig(certificate=str(cert), key=str(key), certificate_pem=cert.read_bytes(),
                         key_pem=key.read_bytes())
    assert config.listen.tls == expected and config.listen.tls_port == 2777
    assert config.operators[0].tls == expected
    assert "PRIVATE" not in repr(config)             # the key stays out of logs and messages


def test_without_tls_nothing_changes() -> None:
    config = load_config()
    assert config.listen.tls is None and all(op.tls is None for op in config.operators)


def test_validity_dates_are_checked_against_the_time_given(tmp_path: Path) -> None:
    path = write(tmp_path, "{tls: {certificate: server.crt, key: server.key}}",
                 operator_tls="{certificate: server.crt, key: server.key}")
    self_signed(tmp_path)
    config = load_config(path)
    assert config.listen.tls is not None
    inside = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    after = NOT_AFTER + datetime.timedelta(seconds=1)
    before = NOT_BEFORE - datetime.timedelta(seconds=1)
    assert expired(config.listen.tls, inside) is None
    assert expired(config.listen.tls, after) == NOT_AFTER
    assert expired(config.listen.tls, before) == NOT_BEFORE
    assert expired_operator_certificate(config, inside) is None
    assert expired_operator_certificate(config, after) == (
        f"operators[0].tls.certificate: the certificate in {tmp_path / 'server.crt'} is not valid now"
        " (valid until 2120-01-01 00:00:00 UTC); make a new one")
    assert expired_listen_certificate(config, before) == (
        f"listen.tls.certificate: the certificate in {tmp_path / 'server.crt'} is not valid now"
        " (valid from 2020-01-01 00:00:00 UTC)")
