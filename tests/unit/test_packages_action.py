"""bizosaas.ops.packages: which packages are missing, from one dpkg-query."""

from __future__ import annotations

from ansible_collections.bizosaas.ops.plugins.action import packages


def test_missing_and_lists():
    out = "curl\tinstalled\nfail2ban\tconfig-files\npython3-docker:amd64\tinstalled\n#lists yes\n"
    assert packages.missing_from(out, ["curl", "fail2ban", "python3-docker", "aide"]) == (["fail2ban", "aide"], True)


def test_no_lists_on_a_fresh_image():
    assert packages.missing_from("#lists no\n", ["curl"]) == (["curl"], False)
