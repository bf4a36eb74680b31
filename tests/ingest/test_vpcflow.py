"""The VPC Flow Logs reader: default and custom formats, skipped rows, rejects, gzip, batches."""

from __future__ import annotations

import gzip
import io

import pytest

from gumshoe.formats import base, vpcflow
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.vpcflow import FlowRecord

ACCOUNT = "123456789012"
DEFAULT_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
KEY = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/15/123456789012_vpcflowlogs_us-east-1_fl-0abc_20240115T1020Z_f00d.log.gz"


def row(
    src: str = "10.0.1.5",
    dst: str = "172.31.16.139",
    sport: object = 49761,
    dport: object = 443,
    proto: object = 6,
    packets: object = 20,
    nbytes: object = 4249,
    start: object = 1705314000,
    end: object = 1705314060,
    action: str = "ACCEPT",
    status: str = "OK",
    account: str = ACCOUNT,
    eni: str = "eni-1235b8ca123456789",
) -> str:
    return f"2 {account} {eni} {src} {dst} {sport} {dport} {proto} {packets} {nbytes} {start} {end} {action} {status}"


def read(text: str | bytes, name: str = "flow.log") -> list[Batch[FlowRecord]]:
    data = text.encode() if isinstance(text, str) else text
    return list(vpcflow.read(io.BytesIO(data), name))


def records(batches: list[Batch[FlowRecord]]) -> list[FlowRecord]:
    return [r for b in batches for r in b.records]


def rejects(batches: list[Batch[FlowRecord]]) -> list[Reject]:
    return [r for b in batches for r in b.rejects]


def skipped(batches: list[Batch[FlowRecord]]) -> int:
    return sum(b.skipped for b in batches)


def test_module_names() -> None:
    assert vpcflow.KIND == "vpcflow"
    assert vpcflow.PACKAGE == base.DETECTIVE_CORE


def test_default_rows_without_header() -> None:
    first = row()
    second = row(src="203.0.113.12", dst="10.0.1.5", sport=0, dport=0, proto=1, packets=4, nbytes=336, action="REJECT")
    batches = read(first + "\n" + second + "\n")
    assert rejects(batches) == [] and skipped(batches) == 0
    a, b = records(batches)
    assert a == FlowRecord(
        account_id=ACCOUNT,
        region="",
        time_ms=1705314000000,
        end_ms=1705314060000,
        size=len(first) + 1,
        interface_id="eni-1235b8ca123456789",
        instance_id="",
        vpc_id="",
        subnet_id="",
        src_addr="10.0.1.5",
        dst_addr="172.31.16.139",
        src_port=49761,
        dst_port=443,
        protocol=6,
        packets=20,
        bytes=4249,
        action="ACCEPT",
        flow_direction="",
        pkt_src_addr="",
        pkt_dst_addr="",
    )
    assert (b.src_addr, b.dst_addr, b.src_port, b.dst_port, b.protocol) == ("203.0.113.12", "10.0.1.5", 0, 0, 1)
    assert (b.packets, b.bytes, b.action, b.size) == (4, 336, "REJECT", len(second) + 1)


def test_default_header_is_skipped_and_last_line_needs_no_newline() -> None:
    batches = read(f"{DEFAULT_HEADER}\n{row(dport=22)}\n{row(dport=3389)}")
    assert skipped(batches) == 1
    assert [r.dst_port for r in records(batches)] == [22, 3389]


def test_ipv6_addresses_in_the_default_layout_are_normalized() -> None:
    batches = read(row(src="2001:DB8:0:0:0:0:0:1", dst="2600:1f18:abcd::10", proto=17, sport=53, dport=5353) + "\n")
    (r,) = records(batches)
    assert (r.src_addr, r.dst_addr, r.protocol, r.src_port, r.dst_port) == ("2001:db8::1", "2600:1f18:abcd::10", 17, 53, 5353)


def test_absent_ports_and_protocol_in_an_ok_row() -> None:
    (r,) = records(read(row(sport="-", dport="-", proto="-") + "\n"))
    assert (r.src_port, r.dst_port, r.protocol) == (-1, -1, -1)
    assert (r.src_addr, r.bytes) == ("10.0.1.5", 4249)


def test_custom_v5_header_reordered_with_region_instance_and_ipv6() -> None:
    header = (
        "region az-id instance-id account-id vpc-id subnet-id interface-id flow-direction "
        "srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport protocol packets bytes "
        "start end action log-status traffic-path pkt-src-aws-service future-field"
    )
    ipv4 = (
        "eu-west-1 euw1-az2 i-0abc1234def567890 210987654321 vpc-0a1b2c3d subnet-0f9e8d7c eni-0aa11bb22cc33dd44 "
        "ingress 10.40.2.15 10.40.3.7 198.51.100.7 10.40.3.7 34512 5432 6 12 2048 1705314000 1705314059 "
        "ACCEPT OK - S3 whatever"
    )
    ipv6 = (
        "eu-west-1 euw1-az2 - 210987654321 vpc-0a1b2c3d subnet-0f9e8d7c eni-0aa11bb22cc33dd44 "
        "egress 2a05:d018:0000:0000::0042 2A05:D018::99 - - 443 61000 6 3 180 1705314010 1705314070 "
        "REJECT OK 1 - -"
    )
    batches = read(f"{header}\n{ipv4}\n{ipv6}\n")
    assert rejects(batches) == [] and skipped(batches) == 1
    a, b = records(batches)
    assert a == FlowRecord(
        account_id="210987654321",
        region="eu-west-1",
        time_ms=1705314000000,
        end_ms=1705314059000,
        size=len(ipv4) + 1,
        interface_id="eni-0aa11bb22cc33dd44",
        instance_id="i-0abc1234def567890",
        vpc_id="vpc-0a1b2c3d",
        subnet_id="subnet-0f9e8d7c",
        src_addr="10.40.2.15",
        dst_addr="10.40.3.7",
        src_port=34512,
        dst_port=5432,
        protocol=6,
        packets=12,
        bytes=2048,
        action="ACCEPT",
        flow_direction="ingress",
        pkt_src_addr="198.51.100.7",
        pkt_dst_addr="10.40.3.7",
    )
    assert (b.src_addr, b.dst_addr) == ("2a05:d018::42", "2a05:d018::99")
    assert (b.instance_id, b.pkt_src_addr, b.pkt_dst_addr, b.flow_direction) == ("", "", "", "egress")
    assert (b.src_port, b.dst_port, b.bytes, b.time_ms, b.end_ms, b.action) == (443, 61000, 180, 1705314010000, 1705314070000, "REJECT")


def test_header_spellings_and_a_format_without_log_status() -> None:
    header = "${account-id} ${srcaddr} ${dstaddr} ${start} ${end} ${action} packets bytes"
    batches = read(f"{header}\n{ACCOUNT} 10.0.0.1 10.0.0.2 1705314000 1705314001 ACCEPT 1 40\n")
    (r,) = records(batches)
    assert (r.account_id, r.src_addr, r.dst_addr, r.src_port, r.protocol, r.packets, r.bytes) == (
        ACCOUNT, "10.0.0.1", "10.0.0.2", -1, -1, 1, 40,
    )  # fmt: skip
    batches = read(f"account_id srcaddr dstaddr start\n{ACCOUNT} 10.0.0.1 10.0.0.2 1705314000\n")
    (r,) = records(batches)
    assert (r.end_ms, r.packets, r.bytes, r.action, r.interface_id) == (1705314000000, 0, 0, "", "")


def test_nodata_and_skipdata_rows_are_skipped() -> None:
    nodata = f"2 {ACCOUNT} eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
    skipdata = f"2 {ACCOUNT} eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA"
    batches = read(f"{DEFAULT_HEADER}\n{nodata}\n{row()}\n{skipdata}\n")
    assert skipped(batches) == 3  # the header and two rows
    assert rejects(batches) == []
    assert [r.src_addr for r in records(batches)] == ["10.0.1.5"]


def test_malformed_rows_are_rejected_and_good_rows_around_them_kept() -> None:
    lines = [
        row(dport=1),
        row(dport=2) + " extra",  # 15 fields
        row(dport="http"),
        row(src="10.0.0.256"),
        row(dst="not-an-ip"),
        row(account="-"),
        row(nbytes="12.5"),
        row(sport=70000),
        row(packets=-3),
        row(start="-"),
        row(status="BROKEN"),
        row(account="12345"),
        row(dport=10),
    ]
    batches = read("\n".join(lines) + "\n")
    assert [r.dst_port for r in records(batches)] == [1, 10]
    found = rejects(batches)
    assert [r.position for r in found] == [f"line {n}" for n in range(2, 13)]
    reasons = [r.reason for r in found]
    assert reasons[0] == "15 fields where the format has 14"
    assert "dstport" in reasons[1] and "'http'" in reasons[1]
    assert "srcaddr" in reasons[2] and "10.0.0.256" in reasons[2]
    assert "dstaddr" in reasons[3] and "not-an-ip" in reasons[3]
    assert reasons[4] == "missing account id"
    assert "bytes" in reasons[5]
    assert "srcport is out of range" in reasons[6]
    assert "packets" in reasons[7]
    assert reasons[8] == "missing start"
    assert "log-status" in reasons[9]
    assert "12-digit" in reasons[10]
    assert found[0].raw == lines[1].encode()
    assert found[2].raw == lines[3].encode()


def test_custom_format_rows_with_the_wrong_field_count_are_rejected() -> None:
    text = f"account-id srcaddr dstaddr start\n{ACCOUNT} 10.0.0.1 10.0.0.2\n{ACCOUNT} 10.0.0.1 10.0.0.2 1705314000\n"
    batches = read(text)
    (bad,) = rejects(batches)
    assert (bad.position, bad.reason) == ("line 2", "3 fields where the format has 4")
    assert [r.time_ms for r in records(batches)] == [1705314000000]


def test_format_without_account_id_rejects_rows() -> None:
    (bad,) = rejects(read("srcaddr dstaddr start\n10.0.0.1 10.0.0.2 1705314000\n"))
    assert bad.reason == "the format has no account-id field"


def test_unknown_account_takes_the_account_in_the_key() -> None:
    text = row(account="unknown") + "\n"
    (r,) = records(read(text, name=KEY))
    assert r.account_id == ACCOUNT
    (bad,) = rejects(read(text, name="flows/plain.log"))
    assert bad.reason == "missing account id"


def test_blank_lines_and_crlf_are_ignored() -> None:
    text = "\r\n\n" + DEFAULT_HEADER + "\r\n   \n" + row(dport=80) + "\r\n\t\n" + row(dport=81) + "\r\n\n"
    batches = read(text)
    assert rejects(batches) == [] and skipped(batches) == 1
    assert [(r.dst_port, r.size) for r in records(batches)] == [(80, len(row(dport=80)) + 1), (81, len(row(dport=81)) + 1)]


def test_line_numbers_count_blank_lines() -> None:
    (bad,) = rejects(read("\n\n" + row() + "\n\nbroken line\n"))
    assert bad.position == "line 5"


def test_header_in_the_middle_switches_the_layout() -> None:
    custom = "account-id dstaddr srcaddr start"
    text = "\n".join([row(), custom, f"{ACCOUNT} 10.9.9.9 10.1.1.1 1705314100", DEFAULT_HEADER, row(dport=8443)]) + "\n"
    batches = read(text)
    assert skipped(batches) == 2 and rejects(batches) == []
    a, b, c = records(batches)
    assert (b.src_addr, b.dst_addr, b.time_ms) == ("10.1.1.1", "10.9.9.9", 1705314100000)
    assert (a.dst_port, c.dst_port) == (443, 8443)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_object_gives_no_batches(text: str) -> None:
    assert read(text) == []


def test_truncated_gzip_yields_the_rows_before_the_cut_and_one_reject() -> None:
    lines = [row(sport=10000 + i, nbytes=i) for i in range(3000)]
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = packed[: len(packed) * 2 // 3]
    batches = list(vpcflow.read(gzip.GzipFile(fileobj=io.BytesIO(cut)), KEY))  # type: ignore[arg-type]
    got = records(batches)
    assert 0 < len(got) < len(lines)
    assert [r.src_port for r in got] == [10000 + i for i in range(len(got))]
    (bad,) = rejects(batches)
    assert bad.position.startswith("byte ")
    assert "truncated or corrupt" in bad.reason


def test_gzip_read_whole() -> None:
    text = DEFAULT_HEADER + "\n" + row() + "\n"
    batches = list(vpcflow.read(gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(text.encode()))), KEY))  # type: ignore[arg-type]
    assert [r.dst_addr for r in records(batches)] == ["172.31.16.139"]


def test_batches_never_exceed_batch_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "BATCH_RECORDS", 3)
    lines = [row(dport=i) for i in range(10)]
    lines[4] = "garbage"
    lines[7] = row(status="NODATA")
    batches = read("\n".join(lines) + "\n")
    assert all(len(b.records) + len(b.rejects) <= 3 for b in batches)
    assert len(batches) == 3
    assert [r.dst_port for r in records(batches)] == [0, 1, 2, 3, 5, 6, 8, 9]
    assert [r.position for r in rejects(batches)] == ["line 5"]
    assert skipped(batches) == 1


def test_sniff() -> None:
    assert vpcflow.sniff((DEFAULT_HEADER + "\n" + row() + "\n").encode(), "x")
    assert vpcflow.sniff((row() + "\n").encode(), "data/object")
    assert vpcflow.sniff(b"\n\nregion account-id srcaddr dstaddr pkt-srcaddr start end\n", "x")
    nodata = f"2 {ACCOUNT} eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n".encode()
    assert vpcflow.sniff(nodata, "x")
    cloudtrail = b'{"Records": [{"eventVersion": "1.08", "eventSource": "s3.amazonaws.com"}]}'
    assert not vpcflow.sniff(cloudtrail, "AWSLogs/123456789012/vpcflowlogs/x.log")
    eks = b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}\n'
    assert not vpcflow.sniff(eks, "x")
    assert not vpcflow.sniff(b"", "x")
    assert not vpcflow.sniff(b"hello world\n", "x")
    custom_row = f"{ACCOUNT} 10.0.0.1 10.0.0.2 1705314000 1705314060 ACCEPT\n".encode()
    assert not vpcflow.sniff(custom_row, "logs/other.txt")
    assert vpcflow.sniff(custom_row, KEY)  # the key settles text that is neither header nor v2 row
