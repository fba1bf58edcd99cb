"""pebble image: the ACME directory answers, and a real ACME client (certbot's `acme` library)
gets a certificate for a test name, with the DNS-01 record served by pebble-challtestsrv."""

from __future__ import annotations

import datetime
import json
import urllib.request

import josepy as jose
import requests
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.kit.kitlib import Containers, container_ip, docker, kit_ref, wait_for

NAME = "app.kit.test"


def test_pebble_issues_a_certificate_through_challtestsrv(containers: Containers, tmp_path) -> None:
    name = containers.run("pebble", kit_ref("pebble"))
    ip = container_ip(name)
    ca = tmp_path / "pebble-listener-ca.pem"
    wait_for(f"{name} to write its listener CA",
             lambda: docker("exec", name, "test", "-s", "/certs/ca.pem", check=False).returncode == 0,
             timeout=30, container=name)
    ca.write_text(docker("exec", name, "cat", "/certs/ca.pem").stdout)
    directory_url = f"https://{ip}:14000/dir"

    # the directory answers over TLS that verifies against the listener CA
    directory = wait_for("the ACME directory",
                         lambda: requests.get(directory_url, verify=str(ca), timeout=5).json(),
                         timeout=30, container=name)
    assert {"newAccount", "newNonce", "newOrder"} <= set(directory)

    # a real ACME client: account, order, DNS-01 through challtestsrv, finalize
    account_key = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    net = client.ClientNetwork(account_key, user_agent="bizosaas-kit-test", verify_ssl=str(ca))  # type: ignore[arg-type]
    acme = client.ClientV2(client.ClientV2.get_directory(directory_url, net), net)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    cert_key = ec.generate_private_key(ec.SECP256R1())
    csr = crypto_util.make_csr(
        cert_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()),
        [NAME],
    )
    order = acme.new_order(csr)
    for authz in order.authorizations:
        dns01 = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
        response, validation = dns01.response_and_validation(account_key)
        body = json.dumps({"host": dns01.chall.validation_domain_name(NAME) + ".", "value": validation}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://{ip}:8055/set-txt", data=body, method="POST"),
                               timeout=5).close()
        acme.answer_challenge(dns01, response)
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    order = acme.poll_and_finalize(order, deadline)

    chain = x509.load_pem_x509_certificates(order.fullchain_pem.encode())
    leaf = chain[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [NAME]
    # the chain ends at Pebble's root, published on the management port (/roots/0)
    root_pem = requests.get(f"https://{ip}:15000/roots/0", verify=str(ca), timeout=5).text
    root = x509.load_pem_x509_certificate(root_pem.encode())
    assert chain[-1].issuer == root.subject
    chain[-1].verify_directly_issued_by(root)
