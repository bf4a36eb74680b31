"""Who a request comes from, in open and sigv4 modes."""

import pytest

from gumshoe.config import Credential, Settings
from gumshoe.errors import MissingAuthenticationTokenException, UnrecognizedClientException
from gumshoe.identity.accounts import AccountDirectory
from gumshoe.identity.caller import identify


def _identify(settings, authorization=None):
    headers = {"host": "x"}
    if authorization is not None:
        headers["authorization"] = authorization
    header_list = [(k.encode(), v.encode()) for k, v in headers.items()]
    return identify(
        settings, AccountDirectory(settings), method="POST", raw_path=b"/graphs/list", query_string=b"",
        header_list=header_list, headers=headers, body=b"{}", source_ip="127.0.0.1",
    )


def test_open_mode_without_signature_is_the_default_account():
    caller = _identify(Settings())
    assert (caller.account_id, caller.region) == ("123456789012", "us-east-1")


def test_open_mode_reads_a_scope_even_without_x_amz_date():
    header = "AWS4-HMAC-SHA256 Credential=111111111111/20261120/eu-west-1/detective/aws4_request, SignedHeaders=host, Signature=00"
    caller = _identify(Settings(), header)
    assert (caller.account_id, caller.region) == ("111111111111", "eu-west-1")


def test_open_mode_maps_configured_keys():
    settings = Settings(credentials=(Credential("AKIDEXAMPLE", "s", "222222222222"),))
    header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261120/us-west-2/detective/aws4_request, SignedHeaders=host, Signature=00"
    assert _identify(settings, header).account_id == "222222222222"


def test_sigv4_mode_needs_a_signature_and_a_known_key():
    settings = Settings(auth="sigv4")
    with pytest.raises(MissingAuthenticationTokenException):
        _identify(settings)
    header = "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20261120/us-east-1/detective/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    with pytest.raises(UnrecognizedClientException):
        headers = {"host": "x", "authorization": header, "x-amz-date": "20261120T000000Z"}
        identify(
            settings, AccountDirectory(settings), method="POST", raw_path=b"/", query_string=b"",
            header_list=[(k.encode(), v.encode()) for k, v in headers.items()], headers=headers, body=b"",
            source_ip=None,
        )
